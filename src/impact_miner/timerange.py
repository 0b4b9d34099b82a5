"""The ``--since``/``--until`` grammar: turn time specs into a half-open, timezone-aware :class:`TimeRange`.

Every spec names an interval of calendar days ``[start, end)`` or a single instant. ``--since`` takes the
start; ``--until`` takes the end, except that a duration (``2w``) gives its start and an instant is itself.
Calendar midnights are localised in the user's zone, moving forward past DST gaps. Nothing here reads the
clock: callers pass ``now``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil import tz as dateutil_tz
from dateutil.relativedelta import relativedelta

from impact_miner.errors import UsageError
from impact_miner.model import TimeRange

__all__ = ["ACCEPTED_FORMS", "resolve_range", "resolve_timezone"]

ACCEPTED_FORMS = (
    "Nd, Nw, Nm, Ny (e.g. 2w, 3 months: the last N units including today); today; yesterday; "
    "this|last week|month|quarter|half|year; YYYY; YYYY-MM; YYYY-Qn; YYYY-Hn; YYYY-Www; YYYY-MM-DD; "
    "YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]"
)

_UNITS = {
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "wk": "weeks", "wks": "weeks", "week": "weeks", "weeks": "weeks",
    "m": "months", "mo": "months", "mos": "months", "month": "months", "months": "months",
    "y": "years", "yr": "years", "yrs": "years", "year": "years", "years": "years",
}  # fmt: skip
_PERIOD_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}

_DURATION = re.compile(r"(\d+) ?([a-z]+)")
_RELATIVE = re.compile(r"(this|last)[ _-]?(week|month|quarter|half|year)")
_YEAR = re.compile(r"(\d{4})")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER = re.compile(r"(?:(\d{4}) ?-? ?q(\d)|q(\d) ?-? ?(\d{4}))")
_HALF = re.compile(r"(?:(\d{4}) ?-? ?h(\d)|h(\d) ?-? ?(\d{4}))")
_WEEK = re.compile(r"(\d{4})-?w(\d{1,2})")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[t ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
    r" ?(z|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?)?"
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})?:?(\d{2})?(?:\.(\d{1,6}))?")


@dataclass(frozen=True)
class _Days:
    """Calendar days ``[start, end)``; ``duration`` marks an ``Nd``-style window."""

    start: date
    end: date
    duration: bool = False


def resolve_range(since: str, until: str | None, *, now: datetime, tz: tzinfo) -> TimeRange:
    """Resolve ``--since``/``--until`` against ``now`` in zone ``tz``; no ``until`` means the end of today."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(tz).date()
    start = _bound(since, today, tz, as_until=False)
    if until is None:
        end = _midnight(today + timedelta(days=1), tz)
        end_label = "the end of today"
    else:
        end = _bound(until, today, tz, as_until=True)
        end_label = f"from {_clean(until)!r}"
    if _utc(start) >= _utc(end):
        raise UsageError(
            f"--until ({end.isoformat()}, {end_label}) must be after "
            f"--since ({start.isoformat()}, from {_clean(since)!r})"
        )
    spec = _clean(since) if until is None else f"{_clean(since)}..{_clean(until)}"
    return TimeRange(since=start, until=end, spec=spec)


def resolve_timezone(name: str | None) -> tzinfo:
    """The named IANA zone; with no name, ``$TZ`` if zoneinfo knows it, else the system's local zone."""
    if name is None:
        env = os.environ.get("TZ", "").strip().lstrip(":")
        if env:
            found = _zone(env)
            if found is not None:
                return found
        return dateutil_tz.tzlocal()
    found = _zone(name.strip())
    if found is None:
        raise UsageError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'")
    return found


def _zone(name: str) -> tzinfo | None:
    """Look ``name`` up in zoneinfo, falling back to a case-insensitive match; ``None`` if unknown."""
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    matches = [key for key in available_timezones() if key.lower() == name.lower()]
    return ZoneInfo(matches[0]) if len(matches) == 1 else None


def _clean(spec: str) -> str:
    """The spec as the user typed it, trimmed and with runs of whitespace collapsed."""
    return " ".join(spec.split())


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _midnight(day: date, tz: tzinfo) -> datetime:
    """Local midnight of ``day`` in ``tz``, or the first instant after it if a DST gap skips it."""
    return _localise(datetime.combine(day, time(0)), tz)


def _localise(wall: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` to a naive wall time (fold=0 if ambiguous), moving forward out of DST gaps."""
    moment = wall.replace(tzinfo=tz, fold=0)
    return moment if dateutil_tz.datetime_exists(moment) else dateutil_tz.resolve_imaginary(moment)


def _bound(spec: str, today: date, tz: tzinfo, *, as_until: bool) -> datetime:
    """The instant ``spec`` gives as ``--since`` (its start) or ``--until`` (its end; a duration's start)."""
    try:
        parsed = _parse(_clean(spec).lower(), today, tz)
        if parsed is None:
            raise ValueError(spec)
        if isinstance(parsed, datetime):
            return parsed
        if as_until and not parsed.duration:
            return _midnight(parsed.end, tz)
        return _midnight(parsed.start, tz)
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"invalid time spec {spec!r}; accepted forms: {ACCEPTED_FORMS}") from exc


def _parse(text: str, today: date, tz: tzinfo) -> _Days | datetime | None:
    """Parse a normalised (lower-case, single-spaced) spec; ``None`` or ``ValueError`` if it is not one."""
    if text == "today":
        return _Days(today, today + timedelta(days=1))
    if text == "yesterday":
        return _Days(today - timedelta(days=1), today)
    if m := _DURATION.fullmatch(text):
        return _duration(int(m[1]), m[2], today)
    if m := _RELATIVE.fullmatch(text):
        return _relative(m[1] == "last", m[2], today)
    if m := _YEAR.fullmatch(text):
        return _months(date(int(m[1]), 1, 1), 12)
    if m := _MONTH.fullmatch(text):
        return _months(date(int(m[1]), int(m[2]), 1), 1)
    if m := _QUARTER.fullmatch(text):
        year, n = (m[1], m[2]) if m[1] else (m[4], m[3])
        return _nth(int(year), int(n), 3)
    if m := _HALF.fullmatch(text):
        year, n = (m[1], m[2]) if m[1] else (m[4], m[3])
        return _nth(int(year), int(n), 6)
    if m := _WEEK.fullmatch(text):
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        return _Days(monday, monday + timedelta(days=7))
    if m := _DATE.fullmatch(text):
        day = date(int(m[1]), int(m[2]), int(m[3]))
        return _Days(day, day + timedelta(days=1))
    if m := _DATETIME.fullmatch(text):
        fraction = (m[7] or "").ljust(6, "0")
        wall = datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0), int(fraction))
        offset = _offset(m[8]) if m[8] else None
        return _localise(wall, tz) if offset is None else wall.replace(tzinfo=offset)
    return None


def _duration(count: int, unit: str, today: date) -> _Days | None:
    """The ``count`` units ending with today, inclusive: ``[today - count units + 1 day, tomorrow)``."""
    kind = _UNITS.get(unit)
    if kind is None or count < 1:
        return None
    steps = {
        "days": relativedelta(days=count),
        "weeks": relativedelta(weeks=count),
        "months": relativedelta(months=count),
        "years": relativedelta(years=count),
    }
    step = steps[kind]
    tomorrow = today + timedelta(days=1)
    return _Days(today - step + timedelta(days=1), tomorrow, duration=True)


def _relative(last: bool, period: str, today: date) -> _Days:
    """``this``/``last`` week (ISO, Monday start), month, quarter, half or year."""
    if period == "week":
        current = today - timedelta(days=today.weekday())
        start = current - timedelta(days=7) if last else current
        return _Days(start, start + timedelta(days=7))
    size = _PERIOD_MONTHS[period]
    current = date(today.year, (today.month - 1) // size * size + 1, 1)
    return _months(current - relativedelta(months=size) if last else current, size)


def _nth(year: int, n: int, size: int) -> _Days:
    """The ``n``-th block of ``size`` months in ``year`` (quarters: 3, halves: 6)."""
    if not 1 <= n <= 12 // size:
        raise ValueError(n)
    return _months(date(year, (n - 1) * size + 1, 1), size)


def _months(first: date, size: int) -> _Days:
    return _Days(first, first + relativedelta(months=size))


def _offset(text: str) -> tzinfo:
    """A fixed offset from ``Z``, ``+02``, ``+0200``, ``+02:00`` or ``+02:00:00[.ffffff]``."""
    if text == "z":
        return UTC
    m = _OFFSET.fullmatch(text)
    if m is None or int(m[3] or 0) > 59 or int(m[4] or 0) > 59:
        raise ValueError(text)
    delta = timedelta(
        hours=int(m[2]),
        minutes=int(m[3] or 0),
        seconds=int(m[4] or 0),
        microseconds=int((m[5] or "").ljust(6, "0")),
    )
    return timezone(-delta if m[1] == "-" else delta)
