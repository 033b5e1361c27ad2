"""ISO 8601 UTC text of epoch nanoseconds: datetime's own format, microseconds truncated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from odibi_otel._internal.timefmt import iso_utc


def reference(time_ns: int) -> str:
    seconds, remainder = divmod(time_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=remainder // 1000)
    return moment.isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    "time_ns",
    [0, 1, 999_999_999, 1_795_686_614_415_035_449, 1_795_686_614_999_999_999, 4_102_444_799_999_000_000],
)
def test_iso_utc_matches_datetime_isoformat(time_ns: int) -> None:
    assert iso_utc(time_ns) == reference(time_ns)
    # the next millisecond: the same second from the remembered text, or across a second/year edge
    assert iso_utc(time_ns + 1_000_000) == reference(time_ns + 1_000_000)


def test_none_stays_none() -> None:
    assert iso_utc(None) is None


def test_microseconds_are_truncated_never_rounded_up() -> None:
    assert iso_utc(1_700_000_000_999_999_999) == "2023-11-14T22:13:20.999999+00:00"
