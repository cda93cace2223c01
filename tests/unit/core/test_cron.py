"""AWS cron schedule expressions: parsing, errors, and next fire times across DST."""

from __future__ import annotations

import calendar
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.core.cron import (
    InvalidScheduleError,
    next_fire_times,
    parse_schedule,
    validate_timezone,
)

NY = "America/New_York"


def at(text: str, tz: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


# ---------------------------------------------------------------- known values


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("cron(0 0 * * ? *)", "2024-05-01T00:00:00", "2024-05-02T00:00:00"),
        ("cron(0 0 * * ? *)", "2024-05-01T23:59:59", "2024-05-02T00:00:00"),
        ("cron(0 10 ? * 2-6 *)", "2024-06-08T12:00:00", "2024-06-10T10:00:00"),  # Sat -> Mon
        ("cron(0/15 * * * ? *)", "2024-01-01T00:07:00", "2024-01-01T00:15:00"),
        ("cron(5,35 14 * * ? *)", "2024-01-01T14:05:00", "2024-01-01T14:35:00"),
        ("cron(0 8 L * ? *)", "2024-02-01T00:00:00", "2024-02-29T08:00:00"),
        ("cron(0 8 LW * ? *)", "2024-08-01T00:00:00", "2024-08-30T08:00:00"),  # 31st is Sat
        ("cron(0 8 15W * ? *)", "2024-06-01T00:00:00", "2024-06-14T08:00:00"),  # 15th is Sat
        ("cron(0 8 16W * ? *)", "2024-06-01T00:00:00", "2024-06-17T08:00:00"),  # 16th is Sun
        ("cron(0 8 1W * ? *)", "2024-06-01T00:00:00", "2024-06-03T08:00:00"),  # 1st is Sat
        ("cron(0 8 30W * ? *)", "2024-06-01T00:00:00", "2024-06-28T08:00:00"),  # 30th is Sun
        ("cron(0 8 ? * 6#3 *)", "2024-06-01T00:00:00", "2024-06-21T08:00:00"),  # 3rd Friday
        ("cron(0 8 ? * FRI#3 *)", "2024-06-01T00:00:00", "2024-06-21T08:00:00"),
        ("cron(0 8 ? * 6L *)", "2024-06-01T00:00:00", "2024-06-28T08:00:00"),  # last Friday
        ("cron(0 8 ? * L *)", "2024-06-03T00:00:00", "2024-06-08T08:00:00"),  # Saturday
        ("cron(0 8 ? * MON-FRI *)", "2024-06-08T00:00:00", "2024-06-10T08:00:00"),
        ("cron(0 8 ? * FRI-MON *)", "2024-06-11T00:00:00", "2024-06-14T08:00:00"),  # wraps
        ("cron(0 0 1 NOV-FEB ? *)", "2024-02-02T00:00:00", "2024-11-01T00:00:00"),  # wraps
        ("cron(0 0 29 2 ? *)", "2024-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("cron(0 0 1 1 ? 2030)", "2024-03-01T00:00:00", "2030-01-01T00:00:00"),
        ("cron(0 0 ? * 1#5 *)", "2024-06-01T00:00:00", "2024-06-30T00:00:00"),  # 5th Sunday
    ],
)
def test_next_after_known_values(expr: str, after: str, expected: str) -> None:
    assert parse_schedule(expr).next_after(at(after), "UTC") == at(expected)


def test_next_after_returns_none_when_years_are_exhausted() -> None:
    schedule = parse_schedule("cron(0 0 1 1 ? 2020-2021)")
    assert schedule.next_after(at("2021-01-01T00:00:00"), "UTC") is None
    assert parse_schedule("cron(0 0 31 2 ? *)").next_after(at("2024-01-01T00:00:00")) is None


def test_spring_forward_gap_is_skipped() -> None:
    schedule = parse_schedule("cron(30 2 * * ? *)")
    first = schedule.next_after(at("2024-03-09T03:00:00", NY), NY)
    assert first == at("2024-03-11T02:30:00", NY)


def test_fall_back_repeated_time_fires_once() -> None:
    schedule = parse_schedule("cron(30 1 * * ? *)")
    times = next_fire_times(schedule, after=at("2024-11-03T05:00:00"), tz=NY, count=2)
    assert [t.astimezone(UTC) for t in times] == [
        at("2024-11-03T05:30:00"),  # 01:30 EDT, first occurrence
        at("2024-11-04T06:30:00"),  # 01:30 EST next day; not the repeat at 06:30 UTC Nov 3
    ]


def test_after_second_occurrence_moves_on() -> None:
    schedule = parse_schedule("cron(45 1 * * ? *)")
    second_0130 = datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo(NY), fold=1)
    nxt = schedule.next_after(second_0130, NY)
    assert nxt is not None
    assert nxt.astimezone(UTC) == at("2024-11-04T06:45:00")


def test_result_is_in_requested_zone() -> None:
    nxt = parse_schedule("cron(0 9 * * ? *)").next_after(at("2024-01-01T00:00:00"), "Asia/Tokyo")
    assert nxt is not None
    assert nxt.tzinfo == ZoneInfo("Asia/Tokyo")
    assert (nxt.hour, nxt.minute) == (9, 0)


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("cron(0 0 * * ? *)").next_after(datetime(2024, 1, 1), "UTC")


def test_names_and_case_are_accepted() -> None:
    a = parse_schedule("cron(0 0 ? jan,Feb mon-fri *)")
    b = parse_schedule("cron(0 0 ? 1,2 2-6 *)")
    assert a.months == b.months
    assert a.days(2024, 1) == b.days(2024, 1)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("rate(5 minutes)", "only cron(...)"),
        ("0 0 * * ? *", "expected the form cron("),
        ("cron(0 0 * * ?)", "expected 6 fields"),
        ("cron(0 0 0 * * ? *)", "got 7"),
        ("cron(60 0 * * ? *)", "Minutes field '60': value 60 is out of range 0-59"),
        ("cron(0 24 * * ? *)", "Hours field '24': value 24 is out of range 0-23"),
        ("cron(0 0 0 * ? *)", "Day-of-month field '0': value 0 is out of range 1-31"),
        ("cron(0 0 32 * ? *)", "Day-of-month field '32'"),
        ("cron(0 0 * 13 ? *)", "Month field '13'"),
        ("cron(0 0 * FOO ? *)", "Month field 'FOO': 'FOO' is not a valid value"),
        ("cron(0 0 ? * 8 *)", "Day-of-week field '8'"),
        ("cron(0 0 ? * 0 *)", "Day-of-week field '0'"),
        ("cron(0 0 * * ? 1969)", "Year field '1969': value 1969 is out of range 1970-2199"),
        ("cron(0 0 * * ? 2200)", "Year field '2200'"),
        ("cron(0 0 * * * *)", "exactly one of the Day-of-month and Day-of-week"),
        ("cron(0 0 ? * ? *)", "exactly one of the Day-of-month and Day-of-week"),
        ("cron(0 0 1 * 2 *)", "exactly one of the Day-of-month and Day-of-week"),
        ("cron(? 0 * * ? *)", "Minutes field '?'"),
        ("cron(0 0 * ? ? *)", "Month field '?'"),
        ("cron(0/0 0 * * ? *)", "increment '0' must be a number from 1 to 59"),
        ("cron(*/x 0 * * ? *)", "increment 'x'"),
        ("cron(30-10 0 * * ? *)", "Minutes field '30-10': range '30-10' runs backwards"),
        ("cron(1,,2 0 * * ? *)", "empty list element"),
        ("cron(0 0 L,5 * ? *)", "Day-of-month field 'L,5'"),
        ("cron(0 0 W * ? *)", "Day-of-month field 'W'"),
        ("cron(0 0 1#2 * ? *)", "Day-of-month field '1#2'"),
        ("cron(0 0 ? * 2#6 *)", "the number after '#' must be from 1 to 5"),
        ("cron(0 0 ? * 2W *)", "'W' is only allowed in the Day-of-month field"),
        ("cron(0 0 ? * 2L,3 *)", "Day-of-week field '2L,3'"),
        ("cron(0 L * * ? *)", "Hours field 'L'"),
        ("cron(0 0 * * ? L)", "Year field 'L'"),
        ("cron(1.5 0 * * ? *)", "Minutes field '1.5'"),
    ],
)
def test_invalid_expressions(expr: str, fragment: str) -> None:
    with pytest.raises(InvalidScheduleError) as info:
        parse_schedule(expr)
    assert fragment in info.value.message
    assert info.value.code == "InvalidParameterValueException"
    assert info.value.status == 400


@pytest.mark.parametrize("name", ["UTC", "Etc/UTC", "America/Los_Angeles", "Europe/London"])
def test_valid_timezones(name: str) -> None:
    assert str(validate_timezone(name)) == name


@pytest.mark.parametrize(
    "name", ["", "X", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "America/"]
)
def test_invalid_timezones(name: str) -> None:
    with pytest.raises(InvalidScheduleError, match="Invalid timezone"):
        validate_timezone(name)


def test_next_after_rejects_bad_timezone() -> None:
    with pytest.raises(InvalidScheduleError):
        parse_schedule("cron(0 0 * * ? *)").next_after(at("2024-01-01T00:00:00"), "Nope/Zone")


# ---------------------------------------------------------------- property tests
# The reference below is written independently of kiln.core.cron: structured field specs are
# rendered to text for the parser, and matched directly (sets and calendar arithmetic) here.

ZONES = [
    "UTC",
    NY,
    "Europe/London",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/Sao_Paulo",
]
TRANSITIONS = [
    datetime(2024, 3, 10, 7, tzinfo=UTC),
    datetime(2024, 11, 3, 6, tzinfo=UTC),
    datetime(2024, 3, 31, 1, tzinfo=UTC),
    datetime(2024, 10, 27, 1, tzinfo=UTC),
    datetime(2024, 4, 6, 15, tzinfo=UTC),
    datetime(2024, 10, 5, 16, tzinfo=UTC),
    datetime(2023, 9, 23, 14, tzinfo=UTC),
    datetime(2025, 1, 1, 0, tzinfo=UTC),
]


@dataclass(frozen=True)
class Spec:
    text: str
    values: frozenset[int]


def numeric_spec(low: int, high: int) -> st.SearchStrategy[Spec]:
    everything = frozenset(range(low, high + 1))

    @st.composite
    def build(draw: st.DrawFn) -> Spec:
        kind = draw(st.sampled_from(["star", "step", "one", "range", "list", "from-step"]))
        if kind == "star":
            return Spec("*", everything)
        if kind == "step":
            step = draw(st.integers(1, high))
            return Spec(f"*/{step}", frozenset(range(low, high + 1, step)))
        a = draw(st.integers(low, high))
        if kind == "one":
            return Spec(str(a), frozenset({a}))
        if kind == "from-step":
            step = draw(st.integers(1, high))
            return Spec(f"{a}/{step}", frozenset(range(a, high + 1, step)))
        if kind == "range":
            b = draw(st.integers(a, high))
            return Spec(f"{a}-{b}", frozenset(range(a, b + 1)))
        items = draw(st.lists(st.integers(low, high), min_size=1, max_size=4))
        return Spec(",".join(map(str, items)), frozenset(items))

    return build()


def ref_weekday(d: date) -> int:  # 1=SUN .. 7=SAT, independent of the module's helper
    return {6: 1, 0: 2, 1: 3, 2: 4, 3: 5, 4: 6, 5: 7}[d.weekday()]


def month_days(y: int, m: int) -> list[date]:
    return [date(y, m, d) for d in range(1, calendar.monthrange(y, m)[1] + 1)]


def ref_dom(text: str, d: date) -> bool:
    days = month_days(d.year, d.month)
    workdays = [x for x in days if ref_weekday(x) not in (1, 7)]
    if text == "L":
        return d == days[-1]
    if text == "LW":
        return d == workdays[-1]
    if text.endswith("W"):
        n = int(text[:-1])
        if n > len(days):
            return False
        target = days[n - 1]
        return d == min(workdays, key=lambda x: (abs((x - target).days), x))
    return d.day in parse_values(text, 1, 31)


def ref_dow(text: str, d: date) -> bool:
    same = [x for x in month_days(d.year, d.month) if ref_weekday(x) == ref_weekday(d)]
    if "#" in text:
        w, n = map(int, text.split("#"))
        return ref_weekday(d) == w and len(same) >= n and same[n - 1] == d
    if text == "L":
        return ref_weekday(d) == 7
    if text.endswith("L"):
        return ref_weekday(d) == int(text[:-1]) and same[-1] == d
    return ref_weekday(d) in parse_values(text, 1, 7)


def parse_values(text: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        a, _, b = base.partition("-")
        start = low if a == "*" else int(a)
        stop = high if a == "*" or (step and not b) else int(b or a)
        out.update(range(start, stop + 1, int(step or 1)))
    return out


dom_specs = st.one_of(
    numeric_spec(1, 31).map(lambda s: s.text),
    st.sampled_from(["L", "LW"]),
    st.integers(1, 31).map(lambda n: f"{n}W"),
)
dow_specs = st.one_of(
    numeric_spec(1, 7).map(lambda s: s.text),
    st.just("L"),
    st.integers(1, 7).map(lambda n: f"{n}L"),
    st.tuples(st.integers(1, 7), st.integers(1, 5)).map(lambda t: f"{t[0]}#{t[1]}"),
)


@dataclass(frozen=True)
class Expr:
    minute: Spec
    hour: Spec
    dom: str
    month: Spec
    dow: str

    @property
    def text(self) -> str:
        return (
            f"cron({self.minute.text} {self.hour.text} {self.dom} {self.month.text} {self.dow} *)"
        )

    def matches(self, wall: datetime) -> bool:
        day_ok = (
            ref_dom(self.dom, wall.date()) if self.dow == "?" else ref_dow(self.dow, wall.date())
        )
        return (
            wall.minute in self.minute.values
            and wall.hour in self.hour.values
            and wall.month in self.month.values
            and day_ok
        )


@st.composite
def expressions(draw: st.DrawFn) -> Expr:
    use_dom = draw(st.booleans())
    return Expr(
        minute=draw(numeric_spec(0, 59)),
        hour=draw(st.one_of(st.just(Spec("*", frozenset(range(24)))), numeric_spec(0, 23))),
        dom=draw(st.one_of(st.just("*"), dom_specs)) if use_dom else "?",
        month=draw(st.one_of(st.just(Spec("*", frozenset(range(1, 13)))), numeric_spec(1, 12))),
        dow="?" if use_dom else draw(st.one_of(st.just("*"), dow_specs)),
    )


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    base = draw(st.sampled_from(TRANSITIONS))
    seconds = draw(st.integers(-2 * 86400, 2 * 86400))
    return base + timedelta(seconds=seconds, microseconds=draw(st.sampled_from([0, 500])))


WINDOW = timedelta(days=2)


def brute_force_next(expr: Expr, after: datetime, tz: str) -> datetime | None:
    zone = ZoneInfo(tz)
    t = after.astimezone(UTC).replace(second=0, microsecond=0)
    if t <= after:
        t += timedelta(minutes=1)
    end = after + WINDOW
    while t <= end:
        local = t.astimezone(zone)
        if local.fold == 0 and expr.matches(local.replace(tzinfo=None)):
            return local
        t += timedelta(minutes=1)
    return None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), instants(), st.sampled_from(ZONES))
def test_next_after_matches_brute_force(expr: Expr, after: datetime, tz: str) -> None:
    got = parse_schedule(expr.text).next_after(after, tz)
    expected = brute_force_next(expr, after, tz)
    if expected is not None:
        assert got is not None
        assert got.astimezone(UTC) == expected.astimezone(UTC)
    else:
        assert got is None or got > after + WINDOW


@settings(max_examples=100, deadline=None)
@given(expressions(), instants(), st.sampled_from(ZONES))
def test_next_after_is_strictly_increasing(expr: Expr, after: datetime, tz: str) -> None:
    schedule = parse_schedule(expr.text)
    times = next_fire_times(schedule, after=after, tz=tz, count=5)
    chain = [t.astimezone(UTC) for t in [after, *times]]
    assert all(a < b for a, b in itertools.pairwise(chain))
    for t in times:
        assert t.second == 0
        assert expr.matches(t.replace(tzinfo=None))


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        dom_specs.map(lambda d: (d, "?")),
        dow_specs.map(lambda w: ("?", w)),
    ),
    st.dates(date(2023, 1, 1), date(2026, 12, 31)),
)
def test_day_fields_over_a_year(days: tuple[str, str], start: date) -> None:
    dom, dow = days
    schedule = parse_schedule(f"cron(0 12 {dom} * {dow} *)")
    expr = Expr(
        Spec("0", frozenset({0})),
        Spec("12", frozenset({12})),
        dom,
        Spec("*", frozenset(range(1, 13))),
        dow,
    )
    end = start + timedelta(days=400)
    expected = [
        start + timedelta(days=i)
        for i in range((end - start).days)
        if expr.matches(
            datetime.combine(start + timedelta(days=i), datetime.min.time()).replace(hour=12)
        )
    ]
    got: list[date] = []
    current = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    while True:
        nxt = schedule.next_after(current, "UTC")
        if nxt is None or nxt.date() >= end:
            break
        got.append(nxt.date())
        current = nxt
    assert got == expected
