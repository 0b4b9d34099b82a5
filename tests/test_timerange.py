"""Tests for the ``--since``/``--until`` time-range grammar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from dateutil import tz as dateutil_tz
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impact_miner.errors import UsageError
from impact_miner.model import TimeRange
from impact_miner.timerange import ACCEPTED_FORMS, resolve_range, resolve_timezone

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")
HAVANA = ZoneInfo("America/Havana")
BEIRUT = ZoneInfo("Asia/Beirut")

# Saturday 2026-11-28, mid-afternoon in Berlin.
NOW = datetime(2026, 11, 28, 15, 30, tzinfo=BERLIN)


def rng(since: str, until: str | None = None, *, now: datetime = NOW, tz: tzinfo = BERLIN) -> TimeRange:
    return resolve_range(since, until, now=now, tz=tz)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, tz: tzinfo = BERLIN
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def span(r: TimeRange) -> timedelta:
    """The real elapsed time of a range (aware subtraction in one zone would use wall clocks)."""
    return r.until.astimezone(UTC) - r.since.astimezone(UTC)


def same_instants(a: TimeRange, b: TimeRange) -> bool:
    def instants(r: TimeRange) -> tuple[datetime, datetime]:
        return r.since.astimezone(UTC), r.until.astimezone(UTC)

    return instants(a) == instants(b)


def is_first_instant_of(moment: datetime, day: date, tz: tzinfo) -> bool:
    """``moment`` falls on local ``day`` and the instant just before it falls on an earlier day."""
    before = moment.astimezone(UTC) - timedelta(microseconds=1)
    return moment.astimezone(tz).date() == day and before.astimezone(tz).date() < day


# --- durations --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start"),
    [
        ("1d", date(2026, 11, 28)),
        ("7d", date(2026, 11, 22)),
        ("2w", date(2026, 11, 15)),
        ("3m", date(2026, 8, 29)),
        ("1y", date(2025, 11, 29)),
        ("2weeks", date(2026, 11, 15)),
        ("3 months", date(2026, 8, 29)),
        ("1 day", date(2026, 11, 28)),
        ("  2W  ", date(2026, 11, 15)),
        ("2 Wks", date(2026, 11, 15)),
        ("1 YEAR", date(2025, 11, 29)),
        ("10 days", date(2026, 11, 19)),
    ],
)
def test_durations_end_with_today_inclusive(spec: str, start: date) -> None:
    r = rng(spec)
    assert r.since == local(start.year, start.month, start.day)
    assert r.until == local(2026, 11, 29)
    assert r.spec == " ".join(spec.split())


def test_duration_as_until_is_its_start() -> None:
    r = rng("4w", "2w")
    assert r.since == local(2026, 11, 1)
    assert r.until == local(2026, 11, 15)
    assert r.until == rng("2w").since
    assert r.spec == "4w..2w"


def test_month_end_clamps() -> None:
    r = rng("1m", now=local(2026, 3, 31, 12))
    assert (r.since, r.until) == (local(2026, 3, 1), local(2026, 4, 1))
    r = rng("3m", now=local(2026, 5, 31, 12))
    assert r.since == local(2026, 3, 1)  # 2026-02-28 + 1 day


def test_leap_day_year_duration() -> None:
    r = rng("1y", now=local(2028, 2, 29, 12))
    assert (r.since, r.until) == (local(2027, 3, 1), local(2028, 3, 1))
    r = rng("4y", now=local(2028, 2, 29, 12))
    assert r.since == local(2024, 3, 1)


# --- today / yesterday / this & last ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("today", date(2026, 11, 28), date(2026, 11, 29)),
        ("yesterday", date(2026, 11, 27), date(2026, 11, 28)),
        ("this week", date(2026, 11, 23), date(2026, 11, 30)),
        ("last week", date(2026, 11, 16), date(2026, 11, 23)),
        ("this month", date(2026, 11, 1), date(2026, 12, 1)),
        ("last month", date(2026, 10, 1), date(2026, 11, 1)),
        ("this quarter", date(2026, 10, 1), date(2027, 1, 1)),
        ("last quarter", date(2026, 7, 1), date(2026, 10, 1)),
        ("this half", date(2026, 7, 1), date(2027, 1, 1)),
        ("last half", date(2026, 1, 1), date(2026, 7, 1)),
        ("this year", date(2026, 1, 1), date(2027, 1, 1)),
        ("last year", date(2025, 1, 1), date(2026, 1, 1)),
        ("this-week", date(2026, 11, 23), date(2026, 11, 30)),
        ("last_week", date(2026, 11, 16), date(2026, 11, 23)),
        ("Last  Month", date(2026, 10, 1), date(2026, 11, 1)),
        ("TODAY", date(2026, 11, 28), date(2026, 11, 29)),
    ],
)
def test_named_periods(spec: str, start: date, end: date) -> None:
    r = rng(spec, spec)
    assert r.since == local(start.year, start.month, start.day)
    assert r.until == local(end.year, end.month, end.day)
    # As --since alone, the range runs to the end of today.
    alone = rng(spec)
    assert alone.since == r.since
    assert alone.until == local(2026, 11, 29)


def test_last_month_from_month_end() -> None:
    r = rng("last month", "last month", now=local(2026, 1, 31, 23))
    assert (r.since, r.until) == (local(2025, 12, 1), local(2026, 1, 1))


@pytest.mark.parametrize(
    ("today", "spec", "start", "end"),
    [
        (date(2026, 3, 31), "this quarter", date(2026, 1, 1), date(2026, 4, 1)),
        (date(2026, 4, 1), "this quarter", date(2026, 4, 1), date(2026, 7, 1)),
        (date(2026, 4, 1), "last quarter", date(2026, 1, 1), date(2026, 4, 1)),
        (date(2026, 1, 15), "last quarter", date(2025, 10, 1), date(2026, 1, 1)),
        (date(2026, 7, 1), "last half", date(2026, 1, 1), date(2026, 7, 1)),
        (date(2026, 6, 30), "this half", date(2026, 1, 1), date(2026, 7, 1)),
        (date(2026, 1, 1), "last half", date(2025, 7, 1), date(2026, 1, 1)),
        (date(2026, 1, 1), "last week", date(2025, 12, 22), date(2025, 12, 29)),
        (date(2026, 11, 23), "this week", date(2026, 11, 23), date(2026, 11, 30)),
        (date(2026, 11, 29), "this week", date(2026, 11, 23), date(2026, 11, 30)),
    ],
)
def test_period_boundaries(today: date, spec: str, start: date, end: date) -> None:
    r = rng(spec, spec, now=local(today.year, today.month, today.day, 12))
    assert (r.since, r.until) == (
        local(start.year, start.month, start.day),
        local(end.year, end.month, end.day),
    )


# --- absolute periods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
        ("2026-Q2", date(2026, 4, 1), date(2026, 7, 1)),
        ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026Q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026-q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("Q3-2026", date(2026, 7, 1), date(2026, 10, 1)),
        ("Q3 2026", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026-H1", date(2026, 1, 1), date(2026, 7, 1)),
        ("2026-H2", date(2026, 7, 1), date(2027, 1, 1)),
        ("H1-2026", date(2026, 1, 1), date(2026, 7, 1)),
        ("2026-11", date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-02", date(2026, 2, 1), date(2026, 3, 1)),
        ("2028-02", date(2028, 2, 1), date(2028, 3, 1)),
        ("2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-W05", date(2026, 1, 26), date(2026, 2, 2)),
        ("2026W01", date(2025, 12, 29), date(2026, 1, 5)),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 4)),
        ("2026-11-01", date(2026, 11, 1), date(2026, 11, 2)),
        ("2024-02-29", date(2024, 2, 29), date(2024, 3, 1)),
    ],
)
def test_absolute_periods(spec: str, start: date, end: date) -> None:
    r = rng(spec, spec)
    assert r.since == local(start.year, start.month, start.day)
    assert r.until == local(end.year, end.month, end.day)
    assert r.spec == f"{spec}..{spec}"


def test_until_takes_the_end_of_a_period() -> None:
    assert rng("2026-07-01", "2026-Q3").until == local(2026, 10, 1)
    assert rng("2026-11-01", "2026-11-15").until == local(2026, 11, 16)
    assert rng("2026", "last week").until == local(2026, 11, 23)
    r = rng("2026-Q3", "last week")
    assert r.spec == "2026-Q3..last week"
    assert r.since == local(2026, 7, 1)


# --- instants ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("2026-11-01T10:00", local(2026, 11, 1, 10)),
        ("2026-11-01 10:00:00", local(2026, 11, 1, 10)),
        ("2026-11-01t10:00:30", datetime(2026, 11, 1, 10, 0, 30, tzinfo=BERLIN)),
        ("2026-11-01T10:00+02:00", datetime(2026, 11, 1, 10, tzinfo=timezone(timedelta(hours=2)))),
        ("2026-11-01T10:00:00+0200", datetime(2026, 11, 1, 10, tzinfo=timezone(timedelta(hours=2)))),
        ("2026-11-01T10:00Z", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01T10:00:00z", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        (
            "2026-11-01T10:00-05:30",
            datetime(2026, 11, 1, 10, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        (
            "2026-11-01T10:00:00.250+01:00",
            datetime(2026, 11, 1, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1))),
        ),
    ],
)
def test_instants_are_exact_at_both_ends(spec: str, expected: datetime) -> None:
    r = rng(spec, "today")
    assert r.since == expected
    assert r.since.utcoffset() == expected.utcoffset()
    assert rng("2026-10-01", spec).until == expected


def test_instant_with_offset_keeps_that_offset() -> None:
    r = rng("2026-11-01T10:00+05:45", "2026-11-02T00:00Z")
    assert r.since.utcoffset() == timedelta(hours=5, minutes=45)
    assert r.until.utcoffset() == timedelta(0)


def test_instant_in_a_dst_gap_moves_forward_and_ambiguous_takes_the_first() -> None:
    r = rng("2026-03-08T02:30", "2026-03-09", now=local(2026, 3, 10, tz=NEW_YORK), tz=NEW_YORK)
    assert r.since.replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)
    assert r.since.utcoffset() == timedelta(hours=-4)
    r = rng("2026-11-01T01:30", "2026-11-02", now=local(2026, 11, 3, tz=NEW_YORK), tz=NEW_YORK)
    assert r.since.utcoffset() == timedelta(hours=-4)


# --- DST --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "today", "start_offset", "end_offset"),
    [
        (NEW_YORK, date(2026, 3, 4), -5, -4),  # spring forward Sunday 2026-03-08
        (NEW_YORK, date(2026, 10, 28), -4, -5),  # fall back Sunday 2026-11-01
        (BERLIN, date(2026, 3, 25), 1, 2),  # Sunday 2026-03-29
        (BERLIN, date(2026, 10, 21), 2, 1),  # Sunday 2026-10-25
    ],
)
def test_this_week_across_a_dst_change(tz: ZoneInfo, today: date, start_offset: int, end_offset: int) -> None:
    r = rng("this week", "this week", now=local(today.year, today.month, today.day, 9, tz=tz), tz=tz)
    assert r.since.replace(tzinfo=None) == datetime.combine(
        today - timedelta(days=today.weekday()), datetime.min.time()
    )
    assert r.since.utcoffset() == timedelta(hours=start_offset)
    assert r.until.utcoffset() == timedelta(hours=end_offset)
    assert span(r) == timedelta(days=7, hours=start_offset - end_offset)


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 25),
        (BERLIN, date(2026, 3, 29), 23),
        (BERLIN, date(2026, 10, 25), 25),
        (BERLIN, date(2026, 10, 26), 24),
    ],
)
def test_one_day_on_a_dst_day(tz: ZoneInfo, day: date, hours: int) -> None:
    r = rng("1d", now=local(day.year, day.month, day.day, 20, tz=tz), tz=tz)
    assert span(r) == timedelta(hours=hours)
    assert same_instants(rng("today", "today", now=r.since, tz=tz), r)


@pytest.mark.parametrize(
    ("tz", "day", "first"),
    [
        (SANTIAGO, date(2026, 9, 6), datetime(2026, 9, 6, 1)),
        (HAVANA, date(2026, 3, 8), datetime(2026, 3, 8, 1)),
        (BEIRUT, date(2026, 3, 29), datetime(2026, 3, 29, 1)),
    ],
)
def test_midnight_in_a_dst_gap_resolves_forward(tz: ZoneInfo, day: date, first: datetime) -> None:
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    assert not dateutil_tz.datetime_exists(midnight)  # the premise: this local midnight never happens
    now = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
    today = rng("today", "today", now=now, tz=tz)
    assert today.since.replace(tzinfo=None) == first
    assert is_first_instant_of(today.since, day, tz)
    assert span(today) == timedelta(hours=23)
    yesterday = rng("yesterday", "yesterday", now=now, tz=tz)
    assert yesterday.until == today.since
    assert span(yesterday) == timedelta(hours=24)
    assert same_instants(rng(day.isoformat(), day.isoformat(), now=now, tz=tz), today)


def test_ambiguous_midnight_takes_the_first() -> None:
    # Havana falls back from 01:00 to 00:00 on 2026-11-01, so that midnight happens twice.
    assert dateutil_tz.datetime_ambiguous(datetime(2026, 11, 1, tzinfo=HAVANA))
    r = rng("today", "today", now=datetime(2026, 11, 1, 12, tzinfo=HAVANA), tz=HAVANA)
    assert r.since.utcoffset() == timedelta(hours=-4)
    assert is_first_instant_of(r.since, date(2026, 11, 1), HAVANA)
    assert span(r) == timedelta(hours=25)


def test_today_is_taken_in_the_given_zone() -> None:
    now = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # already the 29th in Berlin
    assert rng("today", now=now).since == local(2026, 11, 29)
    assert rng("today", now=now, tz=NEW_YORK).since == local(2026, 11, 28, tz=NEW_YORK)


# --- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "banana",
        "0d",
        "0 weeks",
        "-1d",
        "2x",
        "2026-13",
        "2026-00",
        "2026-Q5",
        "2026-Q0",
        "2026-H3",
        "2026-02-30",
        "2025-02-29",
        "2025-W53",
        "2026-W00",
        "",
        "   ",
        "next week",
        "this decade",
        "2026-11-01T25:00",
        "2026-11-01T10:00+02:99",
        "2026-11-01T10:00+24:00",
        "2026-11-01..2026-11-02",
        "line\nbreak",
        "99999999999999999999d",
    ],
)
def test_invalid_specs(spec: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        rng(spec)
    message = str(excinfo.value)
    assert message == f"invalid time spec {spec!r}; accepted forms: {ACCEPTED_FORMS}"
    assert "\n" not in message
    with pytest.raises(UsageError, match="invalid time spec"):
        rng("2w", spec)


def test_accepted_forms_is_one_line() -> None:
    assert ACCEPTED_FORMS and "\n" not in ACCEPTED_FORMS


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("last week", "2026-Q3"),
        ("today", "yesterday"),
        ("2w", "4w"),
        ("2026-11-02T00:00Z", "2026-11-01T12:00Z"),
    ],
)
def test_until_before_since(since: str, until: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        rng(since, until)
    message = str(excinfo.value)
    assert "--until (" in message and ") must be after --since (" in message
    assert "\n" not in message
    r_since = rng(since).since.isoformat()
    assert r_since in message


def test_since_in_the_future() -> None:
    with pytest.raises(
        UsageError, match=r"--until \(2026-11-29T00:00:00\+01:00.*must be after --since \(2030-01-01"
    ):
        rng("2030")


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        resolve_range("2w", None, now=datetime(2026, 11, 28), tz=BERLIN)


# --- resolve_timezone -------------------------------------------------------------------------------------


def test_resolve_timezone_by_name() -> None:
    assert resolve_timezone("Europe/Berlin") == BERLIN
    assert resolve_timezone(" america/new_york ") == NEW_YORK
    assert resolve_timezone("UTC").utcoffset(None) == timedelta(0)
    assert resolve_timezone("utc").utcoffset(None) == timedelta(0)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "America", "../etc/passwd", "/etc/localtime"])
def test_resolve_timezone_bad_name(name: str) -> None:
    with pytest.raises(UsageError, match="unknown time zone") as excinfo:
        resolve_timezone(name)
    assert "\n" not in str(excinfo.value)


def test_resolve_timezone_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Santiago")
    assert resolve_timezone(None) == SANTIAGO
    monkeypatch.setenv("TZ", ":Asia/Beirut")
    assert resolve_timezone(None) == BEIRUT
    monkeypatch.delenv("TZ")
    assert isinstance(resolve_timezone(None), dateutil_tz.tzlocal)
    monkeypatch.setenv("TZ", "not a zone")
    assert isinstance(resolve_timezone(None), dateutil_tz.tzlocal)


# --- properties -------------------------------------------------------------------------------------------

ZONES = [
    ZoneInfo(name)
    for name in (
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America/Santiago",
        "America/Havana",
        "Asia/Beirut",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    )
]
zones = st.sampled_from(ZONES)
nows = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2040, 12, 31), timezones=zones, allow_imaginary=False
)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UNIT_SPELLINGS = [
    "d",
    "day",
    "days",
    " days",
    "w",
    "week",
    "weeks",
    " wks",
    "W",
    "m",
    "month",
    " mo",
    "y",
    " yrs",
]
durations = st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 30), st.sampled_from(UNIT_SPELLINGS))
relatives = st.builds(
    lambda which, sep, period: f"{which}{sep}{period}",
    st.sampled_from(["this", "last", "This", "LAST"]),
    st.sampled_from([" ", "-", "_", "  "]),
    st.sampled_from(["week", "month", "quarter", "half", "year"]),
) | st.sampled_from(["today", "yesterday"])


def absolute_period(day: date, form: str) -> tuple[str, date, date]:
    """A spec naming the period of kind ``form`` around ``day``, with its expected calendar bounds."""
    if form == "year":
        return f"{day.year}", date(day.year, 1, 1), date(day.year + 1, 1, 1)
    if form == "month":
        first = day.replace(day=1)
        return f"{day:%Y-%m}", first, first + relativedelta(months=1)
    if form == "quarter":
        q = (day.month - 1) // 3 + 1
        first = date(day.year, 3 * q - 2, 1)
        return f"{day.year}-Q{q}", first, first + relativedelta(months=3)
    if form == "half":
        h = 1 if day.month <= 6 else 2
        first = date(day.year, 6 * h - 5, 1)
        return f"{day.year}-H{h}", first, first + relativedelta(months=6)
    if form == "week":
        iso = day.isocalendar()
        monday = day - timedelta(days=day.weekday())
        return f"{iso.year}-W{iso.week:02d}", monday, monday + timedelta(days=7)
    return day.isoformat(), day, day + timedelta(days=1)


forms = st.sampled_from(["year", "month", "quarter", "half", "week", "date"])


@PROPS
@given(now=nows, tz=zones, spec=durations | relatives)
def test_property_past_looking_since_runs_to_end_of_today(now: datetime, tz: ZoneInfo, spec: str) -> None:
    r = rng(spec, now=now, tz=tz)
    assert r.since.astimezone(UTC) <= now.astimezone(UTC) < r.until.astimezone(UTC)
    today = now.astimezone(tz).date()
    assert is_first_instant_of(r.until, today + timedelta(days=1), tz)
    assert r.since.astimezone(tz).date() <= today


@PROPS
@given(now=nows, tz=zones, spec=durations | relatives, data=st.data())
def test_property_past_periods_since_before_now(
    now: datetime, tz: ZoneInfo, spec: str, data: st.DataObject
) -> None:
    today = now.astimezone(tz).date()
    day = today - timedelta(days=data.draw(st.integers(0, 3000)))
    absolute, _, _ = absolute_period(day, data.draw(forms))
    for s in (spec, absolute):
        r = rng(s, now=now, tz=tz)
        assert r.since.astimezone(UTC) < r.until.astimezone(UTC)
        assert r.since.astimezone(UTC) <= now.astimezone(UTC)


@PROPS
@given(now=nows, tz=zones, day=st.dates(date(2001, 1, 1), date(2040, 12, 31)), form=forms)
def test_property_period_bounds_are_first_instants(now: datetime, tz: ZoneInfo, day: date, form: str) -> None:
    spec, start, end = absolute_period(day, form)
    r = rng(spec, spec, now=now, tz=tz)
    assert span(r) > timedelta(0)
    assert is_first_instant_of(r.since, start, tz)
    assert is_first_instant_of(r.until, end, tz)
    nominal = timedelta(days=(end - start).days)
    assert abs(span(r) - nominal) <= timedelta(hours=2)


@PROPS
@given(now=nows, tz=zones, spec=relatives)
def test_property_relative_periods_as_both_ends(now: datetime, tz: ZoneInfo, spec: str) -> None:
    r = rng(spec, spec, now=now, tz=tz)
    assert span(r) > timedelta(0)
    assert r.since.astimezone(UTC) <= now.astimezone(UTC)
    assert is_first_instant_of(r.since, r.since.astimezone(tz).date(), tz)
    assert is_first_instant_of(r.until, r.until.astimezone(tz).date(), tz)


@PROPS
@given(
    now=nows,
    tz=zones,
    since=durations | relatives,
    until=st.none() | relatives | durations,
)
def test_property_round_trip_through_isoformat(
    now: datetime, tz: ZoneInfo, since: str, until: str | None
) -> None:
    try:
        r = rng(since, until, now=now, tz=tz)
    except UsageError as exc:
        assert "must be after" in str(exc)  # a valid pair can only fail by being out of order
        return
    assert r.since.astimezone(UTC) < r.until.astimezone(UTC)
    again = rng(r.since.isoformat(), r.until.isoformat(), now=now, tz=tz)
    assert same_instants(again, r)
    assert again.since.utcoffset() == r.since.utcoffset() and again.until.utcoffset() == r.until.utcoffset()


@PROPS
@given(now=nows, tz=zones, a=st.integers(1, 40), b=st.integers(1, 40), unit=st.sampled_from("dwmy"))
def test_property_durations_tile(now: datetime, tz: ZoneInfo, a: int, b: int, unit: str) -> None:
    recent = rng(f"{a}{unit}", now=now, tz=tz)
    earlier = rng(f"{a + b}{unit}", f"{a}{unit}", now=now, tz=tz)
    assert earlier.until == recent.since
    assert earlier.since == rng(f"{a + b}{unit}", now=now, tz=tz).since
    assert is_first_instant_of(recent.until, now.astimezone(tz).date() + timedelta(days=1), tz)


@PROPS
@given(now=nows, tz=zones, n=st.integers(1, 30), unit=st.sampled_from(["d", "w"]))
def test_property_consecutive_runs_tile(now: datetime, tz: ZoneInfo, n: int, unit: str) -> None:
    days = n * (7 if unit == "w" else 1)
    this_run = rng(f"{n}{unit}", now=now, tz=tz)
    next_run = rng(f"{n}{unit}", now=now.astimezone(tz) + timedelta(days=days), tz=tz)
    assert next_run.since == this_run.until
    start = this_run.since.astimezone(tz).date()
    assert (this_run.until.astimezone(tz).date() - start).days == days


@PROPS
@given(text=st.text(max_size=30))
def test_property_any_text_resolves_or_gives_a_one_line_usage_error(text: str) -> None:
    try:
        r = rng(text, "today")
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert r.since.astimezone(UTC) < r.until.astimezone(UTC)


def test_fortnightly_runs_tile_example() -> None:
    assert rng("2w").since == rng("4w", "2w").until
    first = rng("2w", now=local(2026, 11, 14, 9))
    second = rng("2w", now=local(2026, 11, 28, 9))
    assert first.until == second.since == local(2026, 11, 15)
