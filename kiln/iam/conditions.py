"""The `Condition` element: operators, set qualifiers, IfExists, and AWS's missing-key rules.

Rules (IAM JSON reference, "Condition operators" and "Conditions with multiple context keys or
values"):
- operators in a block AND; keys under one operator AND; several policy values for a key OR, and
  NOR for a negated operator (`StringNotEquals`: the value must equal none of them);
- a key missing from the request makes a condition false, except that a negated operator is then
  true; `...IfExists` is true when the key is missing; `Null` tests presence itself;
- `ForAnyValue:` is true when at least one request value satisfies the operator (false when the
  key is missing or empty); `ForAllValues:` when every request value does (true when missing).
Policy variables are substituted in String, Arn and Bool values (version 2012-10-17).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from kiln.iam.pattern import Lookup, Pattern


class ConditionSyntaxError(ValueError):
    """A condition block that AWS would reject; the message is AWS's reason."""


class SetQualifier(StrEnum):
    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


Matcher = Callable[[str, Pattern, Lookup], bool]


def _string_equals(value: str, pattern: Pattern, lookup: Lookup) -> bool:
    return pattern.literal(lookup) == value


def _string_equals_ignore_case(value: str, pattern: Pattern, lookup: Lookup) -> bool:
    literal = pattern.literal(lookup)
    return literal is not None and literal.casefold() == value.casefold()


def _string_like(value: str, pattern: Pattern, lookup: Lookup) -> bool:
    return pattern.matches(value, lookup)


def _arn_like(value: str, pattern: Pattern, lookup: Lookup) -> bool:
    return pattern.matches(value, lookup, arn=True)


def _bool(value: str, pattern: Pattern, lookup: Lookup) -> bool:
    literal = pattern.literal(lookup)
    return literal is not None and literal.lower() == value.lower()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime | None:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_T = TypeVar("_T", float, datetime)


def _compare(parse: Callable[[str], _T | None], op: Callable[[_T, _T], bool]) -> Matcher:
    def match(value: str, pattern: Pattern, lookup: Lookup) -> bool:
        left, right = parse(value), parse(pattern.source)
        return left is not None and right is not None and op(left, right)

    return match


def _binary(value: str, pattern: Pattern, lookup: Lookup) -> bool:
    try:
        return base64.b64decode(value, validate=True) == base64.b64decode(pattern.source)
    except (binascii.Error, ValueError):
        return value == pattern.source


def _ip(value: str, pattern: Pattern, lookup: Lookup) -> bool:
    try:
        address = ipaddress.ip_address(value.strip())
        network = ipaddress.ip_network(pattern.source.strip(), strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network


@dataclass(frozen=True)
class _Family:
    match: Matcher
    negated: bool = False
    variables: bool = False
    validate: Callable[[str], object] | None = None


def _valid_ip(text: str) -> object:
    return ipaddress.ip_network(text.strip(), strict=False)


def _require(parse: Callable[[str], object | None]) -> Callable[[str], object]:
    def check(text: str) -> object:
        result = parse(text)
        if result is None:
            raise ValueError(text)
        return result

    return check


_NUM = _require(_number)
_DATE = _require(_date)

OPERATORS: Mapping[str, _Family] = {
    "StringEquals": _Family(_string_equals, variables=True),
    "StringNotEquals": _Family(_string_equals, negated=True, variables=True),
    "StringEqualsIgnoreCase": _Family(_string_equals_ignore_case, variables=True),
    "StringNotEqualsIgnoreCase": _Family(_string_equals_ignore_case, negated=True, variables=True),
    "StringLike": _Family(_string_like, variables=True),
    "StringNotLike": _Family(_string_like, negated=True, variables=True),
    "NumericEquals": _Family(_compare(_number, operator.eq), validate=_NUM),
    "NumericNotEquals": _Family(_compare(_number, operator.eq), negated=True, validate=_NUM),
    "NumericLessThan": _Family(_compare(_number, operator.lt), validate=_NUM),
    "NumericLessThanEquals": _Family(_compare(_number, operator.le), validate=_NUM),
    "NumericGreaterThan": _Family(_compare(_number, operator.gt), validate=_NUM),
    "NumericGreaterThanEquals": _Family(_compare(_number, operator.ge), validate=_NUM),
    "DateEquals": _Family(_compare(_date, operator.eq), validate=_DATE),
    "DateNotEquals": _Family(_compare(_date, operator.eq), negated=True, validate=_DATE),
    "DateLessThan": _Family(_compare(_date, operator.lt), validate=_DATE),
    "DateLessThanEquals": _Family(_compare(_date, operator.le), validate=_DATE),
    "DateGreaterThan": _Family(_compare(_date, operator.gt), validate=_DATE),
    "DateGreaterThanEquals": _Family(_compare(_date, operator.ge), validate=_DATE),
    "Bool": _Family(_bool, variables=True),
    "BinaryEquals": _Family(_binary),
    "IpAddress": _Family(_ip, validate=_valid_ip),
    "NotIpAddress": _Family(_ip, negated=True, validate=_valid_ip),
    "ArnEquals": _Family(_arn_like, variables=True),
    "ArnNotEquals": _Family(_arn_like, negated=True, variables=True),
    "ArnLike": _Family(_arn_like, variables=True),
    "ArnNotLike": _Family(_arn_like, negated=True, variables=True),
}
_BY_LOWER = {name.lower(): name for name in (*OPERATORS, "Null")}


@dataclass(frozen=True)
class ConditionOperator:
    """`[ForAnyValue:|ForAllValues:]Base[IfExists]`, or `Null`."""

    name: str
    base: str
    qualifier: SetQualifier | None = None
    if_exists: bool = False

    @classmethod
    def parse(cls, name: str) -> ConditionOperator:
        qualifier: SetQualifier | None = None
        rest = name
        prefix, sep, tail = name.partition(":")
        if sep:
            qualifier = next((q for q in SetQualifier if q.lower() == prefix.lower()), None)
            if qualifier is None:
                raise ConditionSyntaxError(f"Invalid Condition type : {name}.")
            rest = tail
        if_exists = rest.lower().endswith("ifexists")
        if if_exists:
            rest = rest[: -len("IfExists")]
        base = _BY_LOWER.get(rest.lower())
        if base is None or (base == "Null" and (if_exists or qualifier is not None)):
            raise ConditionSyntaxError(f"Invalid Condition type : {name}.")
        return cls(name, base, qualifier, if_exists)

    @property
    def negated(self) -> bool:
        return self.base != "Null" and OPERATORS[self.base].negated


@dataclass(frozen=True)
class Condition:
    """One operator applied to one context key with its policy values."""

    operator: ConditionOperator
    key: str
    values: tuple[Pattern, ...]

    def holds(self, lookup: Lookup) -> bool:
        found = lookup(self.key)
        op = self.operator
        if op.base == "Null":
            absent = not found
            return any((v.source.lower() == "true") == absent for v in self.values)
        if op.if_exists and not found:
            return True
        family = OPERATORS[op.base]

        def satisfied(value: str) -> bool:
            hit = any(family.match(value, p, lookup) for p in self.values)
            return not hit if family.negated else hit

        if op.qualifier is SetQualifier.FOR_ALL_VALUES:
            return all(satisfied(v) for v in found or ())
        if op.qualifier is SetQualifier.FOR_ANY_VALUE:
            return any(satisfied(v) for v in found or ())
        if not found:
            return family.negated
        hits = any(family.match(v, p, lookup) for v in found for p in self.values)
        return not hits if family.negated else hits


def _scalar(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConditionSyntaxError(f"Syntax errors in policy. Invalid value in {where}.")


def parse_conditions(block: object, *, variables: bool) -> tuple[Condition, ...]:
    """Parse a statement's `Condition` object; raises ConditionSyntaxError."""
    if not isinstance(block, Mapping):
        raise ConditionSyntaxError("Syntax errors in policy.")
    out: list[Condition] = []
    for op_name, keys in block.items():
        op = ConditionOperator.parse(str(op_name))
        if not isinstance(keys, Mapping) or not keys:
            raise ConditionSyntaxError("Syntax errors in policy.")
        for key, raw in keys.items():
            items = raw if isinstance(raw, list) else [raw]
            if not items:
                raise ConditionSyntaxError("Syntax errors in policy.")
            texts = [_scalar(item, f"{op_name}/{key}") for item in items]
            _validate(op, texts)
            use_vars = variables and (op.base == "Null" or OPERATORS[op.base].variables)
            patterns = tuple(Pattern.parse(t, variables=use_vars) for t in texts)
            out.append(Condition(op, str(key), patterns))
    return tuple(out)


def _validate(op: ConditionOperator, texts: list[str]) -> None:
    if op.base == "Null":
        bad = [t for t in texts if t.lower() not in ("true", "false")]
    else:
        check = OPERATORS[op.base].validate
        bad = []
        for text in texts:
            try:
                if check is not None:
                    check(text)
            except ValueError:
                bad.append(text)
    if bad:
        raise ConditionSyntaxError(f"Invalid Condition value for {op.name}: {bad[0]}.")


def conditions_hold(conditions: tuple[Condition, ...], lookup: Lookup) -> bool:
    return all(c.holds(lookup) for c in conditions)
