"""The business's calendar days as integers, in SQL and in numpy alike.

A day number counts local days from 1970-01-01: ``(unix_seconds + offset) // 86400``
where ``offset`` is the zone's UTC offset at that instant. Zones with daylight saving
change offset a couple of times a year, so the offset is a step function of time: the
steps over the covered years are found once (from ``zoneinfo``), and SQL gets a CASE
over them, newest first (most rows are recent and match the first branch; Moscow's
steps all lie before 2015). A zone that never changed in that range, such as UTC, gets a
plain constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, case, literal_column
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import unix_seconds

if TYPE_CHECKING:  # numpy loads on first use, not with the bot's start
    import numpy as np
    from numpy.typing import NDArray

DAY_S = 86_400
COVERED_YEARS = 25  # older timestamps take the oldest offset found


def _offset(zone: ZoneInfo, ts: int) -> int:
    offset = datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def sql_int(value: int) -> ColumnElement[int]:
    """An integer constant inlined into the SQL (both backends then do integer maths)."""
    return literal_column(str(int(value)), BigInteger)


@dataclass(frozen=True)
class LocalDays:
    """Offset steps of one zone: ``starts[k]`` (Unix seconds) begins ``offsets[k]``."""

    zone: ZoneInfo
    starts: tuple[int, ...]  # starts[0] is "since forever"
    offsets: tuple[int, ...]

    @classmethod
    def around(cls, zone: ZoneInfo, now: datetime, years: int = COVERED_YEARS) -> LocalDays:
        """The steps from ``years`` before ``now`` to a year after it."""
        lo = unix_seconds(now) - years * 366 * DAY_S
        hi = unix_seconds(now) + 366 * DAY_S
        starts, offsets = [lo], [_offset(zone, lo)]
        for t in range(lo, hi, DAY_S):  # offsets change at most once a day
            if _offset(zone, t + DAY_S) != offsets[-1]:
                a, b = t, t + DAY_S  # offset(a) == last, offset(b) differs
                while b - a > 1:
                    mid = (a + b) // 2
                    a, b = (mid, b) if _offset(zone, mid) == offsets[-1] else (a, mid)
                starts.append(b)
                offsets.append(_offset(zone, b))
        return cls(zone, tuple(starts), tuple(offsets))

    def day_of(self, moment: datetime) -> int:
        return (moment.astimezone(self.zone).date() - date(1970, 1, 1)).days

    def midnight_ts(self, day: date) -> int:
        """Unix seconds of the local midnight that starts ``day``."""
        return unix_seconds(datetime.combine(day, time(), self.zone))

    def offset_sql(self, ts: Any) -> ColumnElement[int]:
        if len(self.offsets) == 1:
            return sql_int(self.offsets[0])
        steps = list(zip(self.starts[1:], self.offsets[1:], strict=True))[::-1]
        whens = ((ts >= sql_int(start), sql_int(offset)) for start, offset in steps)
        return case(*whens, else_=sql_int(self.offsets[0]))

    def day_sql(self, ts: Any) -> ColumnElement[int]:
        """The local day number of a Unix-seconds expression (non-negative times)."""
        return (ts + self.offset_sql(ts)) // sql_int(DAY_S)

    def offsets_of(self, ts: NDArray[np.int64]) -> NDArray[np.int64]:
        import numpy as np

        index = np.searchsorted(np.array(self.starts[1:], dtype=np.int64), ts, side="right")
        return np.array(self.offsets, dtype=np.int64)[index]
