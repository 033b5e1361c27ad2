"""Fixtures of the reliability suite (the harness itself is in ``harness.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Observed


@pytest.fixture()
def observed(tmp_path: Path) -> Iterator[Observed]:
    harness = Observed(tmp_path / "observed")
    yield harness
    harness.close()
