"""Hypothesis strategies that build values for any botocore shape (bounded in size)."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import strategies as st

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=12)
_HEADER_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.:", min_size=1, max_size=12
)
_SECONDS = st.integers(min_value=0, max_value=4_102_444_800)


def for_shape(shape, *, location: str | None = None, depth: int = 0):
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return st.just({})
        required = {}
        optional = {}
        for name, member in shape.members.items():
            where = member.serialization.get("location")
            strategy = for_shape(member, location=where, depth=depth + 1)
            if name in shape.required_members:
                required[name] = strategy
            else:
                optional[name] = strategy
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        return st.lists(
            for_shape(shape.member, location=location, depth=depth + 1), min_size=1, max_size=3
        )
    if kind == "map":
        return st.dictionaries(
            st.text(alphabet=string.ascii_letters, min_size=1, max_size=8),
            for_shape(shape.value, depth=depth + 1),
            min_size=1,
            max_size=3,
        )
    if kind == "string":
        if shape.enum:
            return st.sampled_from(list(shape.enum))
        if location in ("header", "headers"):
            return _HEADER_TEXT
        if location in ("uri", "querystring"):
            return _TEXT.filter(bool)
        return _TEXT
    if kind in ("integer", "long"):
        low = shape.metadata.get("min", -(2**31))
        high = shape.metadata.get("max", 2**31 - 1)
        return st.integers(min_value=int(low), max_value=int(high))
    if kind == "boolean":
        return st.booleans()
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32).map(float)
    if kind == "timestamp":
        return _SECONDS.map(lambda s: dt.datetime.fromtimestamp(s, tz=dt.UTC))
    if kind == "blob":
        return st.binary(max_size=16)
    raise AssertionError(f"no strategy for shape type {kind}")
