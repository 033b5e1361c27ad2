"""Robust statistics for anomaly detection: median, MAD and the modified z-score.

The modified z-score (Iglewicz and Hoaglin) uses the median and the median absolute deviation,
so one earlier outlier in the history does not hide the next one the way a mean and standard
deviation would: ``M = 0.6745 * (x - median) / MAD``; ``|M| > 3.5`` is the usual outlier rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

__all__ = ["MODIFIED_Z_FACTOR", "mad", "median", "modified_z_score"]

#: 0.6745 is the 0.75 quantile of the standard normal: it makes MAD comparable to a standard deviation.
MODIFIED_Z_FACTOR: Final = 0.6745


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (the mean of the two middle ones for an even count).

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("median of an empty series")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def mad(values: Sequence[float]) -> float:
    """The median absolute deviation from the median."""
    centre = median(values)
    return median([abs(value - centre) for value in values])


def modified_z_score(value: float, history: Sequence[float], *, min_scale: float = 0.0) -> float:
    """How far ``value`` lies from ``history``'s median, in robust standard deviations.

    Args:
        value: Today's figure.
        history: Earlier figures (at least one).
        min_scale: Lower bound of the MAD, so a perfectly steady history (MAD 0) does not turn
            the smallest change into an infinite score.

    Returns:
        The signed score; ``inf``/``-inf`` when the history is constant, no floor is given and
        ``value`` differs; 0 when it equals the median.
    """
    centre = median(history)
    scale = max(mad(history), min_scale)
    if value == centre:
        return 0.0
    if scale == 0:
        return math.copysign(math.inf, value - centre)
    return MODIFIED_Z_FACTOR * (value - centre) / scale
