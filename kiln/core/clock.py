"""Time as Kiln reads it, and timestamps as Image Builder writes them."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A time as an aware one: a naive time (as databases give them back) is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def aws_datetime(moment: dt.datetime) -> str:
    """Image Builder's DateTime strings: ISO 8601, milliseconds, UTC, `Z`."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
