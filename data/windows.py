"""Time windows written as text, such as "2013-07" or "2013-01:2013-03", and row selection by them.

A window is one period or an inclusive range of two periods separated by a colon. Each period is
a year ("2013"), a month ("2013-07") or a day ("2013-07-15"), as `pandas.Period` parses it.
"2013-01:2013-03" covers 1 January 00:00 to the end of 31 March.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from data.base import DataLoaderError


@dataclass(frozen=True)
class TimeWindow:
    """An inclusive time range parsed from text; bounds are timezone-naive."""

    text: str
    start: pd.Timestamp
    end: pd.Timestamp

    def months(self) -> pd.PeriodIndex:
        """Return every calendar month the window touches."""
        return pd.period_range(self.start.to_period("M"), self.end.to_period("M"), freq="M")


def _parse_period(text: str, window: str) -> pd.Period:
    try:
        return pd.Period(text.strip())
    except (ValueError, TypeError) as exc:
        raise DataLoaderError(
            f"invalid window {window!r}: {text.strip()!r} is not a period; "
            "write a month like '2013-07' or a range like '2013-01:2013-03'"
        ) from exc


def parse_window(window: str) -> TimeWindow:
    """Parse "START" or "START:END" into an inclusive `TimeWindow`.

    Raises `DataLoaderError` naming the window when a part is not a period or END precedes START.
    """
    parts = window.split(":")
    if len(parts) > 2 or any(not part.strip() for part in parts):
        raise DataLoaderError(
            f"invalid window {window!r}: write one period like '2013-07' or 'START:END' like '2013-01:2013-03'"
        )

    first = _parse_period(parts[0], window)
    last = _parse_period(parts[-1], window)
    start = first.start_time
    end = last.end_time
    if end < start:
        raise DataLoaderError(f"invalid window {window!r}: its end comes before its start")
    return TimeWindow(text=window, start=start, end=end)


def _naive_bounds(window: TimeWindow, timestamps: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the window's bounds in the timezone of `timestamps` (bounds count as local time there)."""
    tz = getattr(timestamps.dt, "tz", None)
    if tz is None:
        return window.start, window.end
    return window.start.tz_localize(tz), window.end.tz_localize(tz)


def select_window(frame: pd.DataFrame, column: str, window: TimeWindow) -> pd.DataFrame:
    """Return the rows of `frame` whose `column` lies in `window`, in their original order.

    `column` must already hold datetimes. Rows with a missing timestamp are never selected.
    """
    timestamps = frame[column]
    start, end = _naive_bounds(window, timestamps)
    mask = (timestamps >= start) & (timestamps <= end)
    return frame.loc[mask.to_numpy()].reset_index(drop=True)
