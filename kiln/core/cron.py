"""AWS schedule expressions as Image Builder accepts them, and their next fire time.

Grammar (EventBridge cron, six fields; Image Builder accepts ``cron(...)`` only, never
``rate(...)``)::

    cron(<Minutes> <Hours> <Day-of-month> <Month> <Day-of-week> <Year>)

| field        | values              | wildcards        |
|--------------|---------------------|------------------|
| Minutes      | 0-59                | , - * /          |
| Hours        | 0-23                | , - * /          |
| Day-of-month | 1-31                | , - * ? / L W    |
| Month        | 1-12 or JAN-DEC     | , - * /          |
| Day-of-week  | 1-7 or SUN-SAT      | , - * ? L #      |
| Year         | 1970-2199           | , - * /          |

Exactly one of Day-of-month and Day-of-week is ``?``. ``L`` (last day of the month; in
Day-of-week alone it is SAT, after a weekday ``6L`` is the last Friday of the month), ``nW``
(weekday nearest to day n, within the month), ``LW`` (last weekday of the month) and ``d#k``
(k-th weekday d of the month, k 1-5) each stand alone in their field.

Time zone semantics follow EventBridge Scheduler: a wall-clock time the zone skips (spring
forward) does not fire; a wall-clock time the zone repeats (fall back) fires once, at its first
occurrence.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiln.core.errors import ClientError

__all__ = [
    "CronSchedule",
    "InvalidScheduleError",
    "aws_weekday",
    "next_fire_times",
    "parse_schedule",
    "validate_timezone",
]

MIN_YEAR = 1970
MAX_YEAR = 2199
_TIMEZONE_PATTERN = re.compile(r"[a-zA-Z0-9]{2,}(?:/[a-zA-Z0-9\-_+]+)*")
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class InvalidScheduleError(ClientError):
    """A schedule expression or time zone Image Builder would refuse."""

    code = "InvalidParameterValueException"


@dataclass(frozen=True, slots=True)
class _Field:
    label: str
    low: int
    high: int
    names: dict[str, int]


_MINUTE = _Field("Minutes", 0, 59, {})
_HOUR = _Field("Hours", 0, 23, {})
_DOM = _Field("Day-of-month", 1, 31, {})
_MONTH = _Field("Month", 1, 12, {k.upper(): v for k, v in _MONTHS.items()})
_DOW = _Field("Day-of-week", 1, 7, _WEEKDAYS)
_YEAR = _Field("Year", MIN_YEAR, MAX_YEAR, {})
_FIELDS = (_MINUTE, _HOUR, _DOM, _MONTH, _DOW, _YEAR)

DaySelector = Callable[[int, int], frozenset[int]]
"""(year, month) -> the days of that month a day field selects."""


def aws_weekday(year: int, month: int, day: int) -> int:
    """The AWS day-of-week number of a date: 1=SUN .. 7=SAT."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed ``cron(...)`` expression. Day fields are None where the expression has ``?``."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: DaySelector | None
    day_of_week: DaySelector | None

    def days(self, year: int, month: int) -> frozenset[int]:
        """The days of ``month`` on which the expression fires."""
        selector = self.day_of_month if self.day_of_month is not None else self.day_of_week
        assert selector is not None  # parse guarantees exactly one of them
        return selector(year, month)

    def matches(self, wall: datetime) -> bool:
        """Whether a wall-clock time (its minute) is selected by the expression."""
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and wall.year in self.years
            and wall.day in self.days(wall.year, wall.month)
        )

    def next_after(self, dt: datetime, tz: str = "UTC") -> datetime | None:
        """The first fire time strictly after the aware instant ``dt``, in zone ``tz``.

        Returns an aware datetime in ``tz``, or None when the expression never fires again
        (its years are exhausted).
        """
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError("next_after needs an aware datetime")
        zone = validate_timezone(tz)
        after = dt.astimezone(UTC)  # compare in UTC: same-zone comparison ignores fold
        start = dt.astimezone(zone).replace(tzinfo=None, fold=0, second=0, microsecond=0)
        for wall in self._walls_from(start):
            instant = wall.replace(tzinfo=zone, fold=0)
            utc = instant.astimezone(UTC)
            if utc.astimezone(zone).replace(tzinfo=None) != wall:
                continue  # skipped by a spring-forward gap
            if utc > after:
                return instant
        return None

    def _walls_from(self, start: datetime) -> Iterator[datetime]:
        """Matching wall-clock minutes at or after ``start``, in increasing order."""
        hours, minutes, months = sorted(self.hours), sorted(self.minutes), sorted(self.months)
        for year in sorted(y for y in self.years if y >= start.year):
            at_year = year == start.year
            for month in months:
                if at_year and month < start.month:
                    continue
                at_month = at_year and month == start.month
                for day in sorted(self.days(year, month)):
                    if at_month and day < start.day:
                        continue
                    at_day = at_month and day == start.day
                    for hour in hours:
                        if at_day and hour < start.hour:
                            continue
                        at_hour = at_day and hour == start.hour
                        for minute in minutes:
                            if at_hour and minute < start.minute:
                                continue
                            yield datetime(year, month, day, hour, minute)


def validate_timezone(name: str) -> ZoneInfo:
    """The IANA zone named ``name``; InvalidScheduleError if there is none."""
    if not 3 <= len(name) <= 100 or not _TIMEZONE_PATTERN.fullmatch(name):
        raise InvalidScheduleError(f"Invalid timezone {name!r}: not an IANA time zone name.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidScheduleError(
            f"Invalid timezone {name!r}: unknown IANA time zone name."
        ) from exc


def parse_schedule(expression: str) -> CronSchedule:
    """Parse an Image Builder schedule expression; InvalidScheduleError names the fault."""
    text = expression.strip()
    if text.startswith(("rate(", "at(")):
        raise _error(expression, "only cron(...) expressions are supported by Image Builder")
    if not (text.startswith("cron(") and text.endswith(")")):
        raise _error(
            expression, "expected the form cron(Minutes Hours Day-of-month Month Day-of-week Year)"
        )
    parts = text[len("cron(") : -1].split()
    if len(parts) != len(_FIELDS):
        raise _error(
            expression,
            f"expected 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), "
            f"got {len(parts)}",
        )
    minute_s, hour_s, dom_s, month_s, dow_s, year_s = parts
    try:
        minutes = _plain(minute_s, _MINUTE)
        hours = _plain(hour_s, _HOUR)
        months = _plain(month_s, _MONTH)
        years = _plain(year_s, _YEAR)
        dom = None if dom_s == "?" else _day_of_month(dom_s)
        dow = None if dow_s == "?" else _day_of_week(dow_s)
    except _FieldError as exc:
        raise _error(expression, f"{exc.field.label} field {exc.text!r}: {exc.fault}") from None
    if (dom is None) == (dow is None):
        raise _error(
            expression,
            "exactly one of the Day-of-month and Day-of-week fields must be '?'",
        )
    return CronSchedule(
        expression=expression,
        minutes=minutes,
        hours=hours,
        months=months,
        years=years,
        day_of_month=dom,
        day_of_week=dow,
    )


def _error(expression: str, fault: str) -> InvalidScheduleError:
    return InvalidScheduleError(f"Invalid schedule expression {expression!r}: {fault}.")


class _FieldError(Exception):
    def __init__(self, field: _Field, text: str, fault: str) -> None:
        super().__init__(fault)
        self.field = field
        self.text = text
        self.fault = fault


def _value(token: str, field: _Field, whole: str) -> int:
    upper = token.upper()
    if upper in field.names:
        return field.names[upper]
    if not token.isdigit():
        raise _FieldError(field, whole, f"{token!r} is not a valid value")
    value = int(token)
    if not field.low <= value <= field.high:
        raise _FieldError(field, whole, f"value {value} is out of range {field.low}-{field.high}")
    return value


def _plain(text: str, field: _Field) -> frozenset[int]:
    """Values of a field built from ``,`` ``-`` ``*`` ``/`` only."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _FieldError(field, text, "empty list element")
        values.update(_item(item, field, text))
    return frozenset(values)


def _item(item: str, field: _Field, whole: str) -> list[int]:
    base, slash, step_s = item.partition("/")
    step = 1
    if slash:
        if not step_s.isdigit() or not 1 <= int(step_s) <= field.high:
            raise _FieldError(
                field, whole, f"increment {step_s!r} must be a number from 1 to {field.high}"
            )
        step = int(step_s)
    if base == "*":
        low, high = field.low, field.high
    elif "-" in base:
        low_s, _, high_s = base.partition("-")
        low, high = _value(low_s, field, whole), _value(high_s, field, whole)
    else:
        low = _value(base, field, whole)
        high = field.high if slash else low
    span = high - low if high >= low else None
    if span is None:
        if field not in (_MONTH, _DOW):
            raise _FieldError(field, whole, f"range {base!r} runs backwards")
        span = high + (field.high - field.low + 1) - low  # wraps, e.g. FRI-MON, NOV-FEB
    size = field.high - field.low + 1
    return [field.low + (low - field.low + k) % size for k in range(0, span + 1, step)]


def _day_of_month(text: str) -> DaySelector:
    upper = text.upper()
    if upper == "L":
        return lambda y, m: frozenset({calendar.monthrange(y, m)[1]})
    if upper == "LW":
        return _last_weekday
    if upper.endswith("W"):
        day = _value(upper[:-1], _DOM, text)
        return lambda y, m: _nearest_weekday(y, m, day)
    if "L" in upper or "W" in upper or "#" in upper:
        raise _FieldError(_DOM, text, "'L' and 'W' must stand alone (L, LW or nW)")
    days = _plain(text, _DOM)
    return lambda y, m: frozenset(d for d in days if d <= calendar.monthrange(y, m)[1])


def _day_of_week(text: str) -> DaySelector:
    upper = text.upper()
    if "#" in upper:
        day_s, _, nth_s = upper.partition("#")
        weekday = _value(day_s, _DOW, text)
        if not nth_s.isdigit() or not 1 <= int(nth_s) <= 5:
            raise _FieldError(_DOW, text, "the number after '#' must be from 1 to 5")
        nth = int(nth_s)
        return lambda y, m: _nth_weekday(y, m, weekday, nth)
    if upper == "L":
        return _weekdays_in(frozenset({7}))
    if upper.endswith("L"):
        weekday = _value(upper[:-1], _DOW, text)
        return lambda y, m: _last_weekday_of(y, m, weekday)
    if "L" in upper:
        raise _FieldError(_DOW, text, "'L' must stand alone (L or dL)")
    if "W" in upper.replace("WED", ""):
        raise _FieldError(_DOW, text, "'W' is only allowed in the Day-of-month field")
    return _weekdays_in(_plain(text, _DOW))


def _weekdays_in(weekdays: frozenset[int]) -> DaySelector:
    def select(year: int, month: int) -> frozenset[int]:
        last = calendar.monthrange(year, month)[1]
        return frozenset(d for d in range(1, last + 1) if aws_weekday(year, month, d) in weekdays)

    return select


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> frozenset[int]:
    first = (weekday - aws_weekday(year, month, 1)) % 7 + 1
    day = first + 7 * (nth - 1)
    return frozenset({day}) if day <= calendar.monthrange(year, month)[1] else frozenset()


def _last_weekday_of(year: int, month: int, weekday: int) -> frozenset[int]:
    last = calendar.monthrange(year, month)[1]
    return frozenset({last - (aws_weekday(year, month, last) - weekday) % 7})


def _is_workday(year: int, month: int, day: int) -> bool:
    return aws_weekday(year, month, day) not in (1, 7)


def _last_weekday(year: int, month: int) -> frozenset[int]:
    day = calendar.monthrange(year, month)[1]
    while not _is_workday(year, month, day):
        day -= 1
    return frozenset({day})


def _nearest_weekday(year: int, month: int, day: int) -> frozenset[int]:
    last = calendar.monthrange(year, month)[1]
    if day > last:
        return frozenset()
    weekday = aws_weekday(year, month, day)
    if weekday == 7:  # Saturday: the Friday before, or Monday if that leaves the month
        return frozenset({day - 1 if day > 1 else day + 2})
    if weekday == 1:  # Sunday: the Monday after, or Friday if that leaves the month
        return frozenset({day + 1 if day < last else day - 2})
    return frozenset({day})


def next_fire_times(
    schedule: CronSchedule, *, after: datetime, tz: str = "UTC", count: int
) -> list[datetime]:
    """The next ``count`` fire times after ``after`` (fewer if the schedule ends)."""
    times: list[datetime] = []
    current = after
    while len(times) < count:
        nxt = schedule.next_after(current, tz)
        if nxt is None:
            break
        times.append(nxt)
        current = nxt
    return times
