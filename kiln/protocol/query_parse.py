"""Form parameters of the query and ec2 protocols, parsed back into an input shape's members.

Exactly inverse to botocore's QuerySerializer / EC2Serializer (botocore/serialize.py):

    structure   Prefix.Member                 (ec2: queryName, else capitalized locationName)
    list        Prefix.member.N               (locationName of the member replaces `member`)
                Prefix.N                      flattened, and always for ec2
                Prefix=                       an empty list (query only; ec2 sends nothing)
    map         Prefix.entry.N.key / .value   (key/value locationNames; flattened: Prefix.N.key)

A flattened list whose member has a locationName arrives under the structure member's name
(the Smithy rule, `Hi.1`) or, from botocore, under the list member's name (botocore replaces the
last prefix segment, `item.1`): both are accepted, the former first. Likewise an ec2 member
without queryName or locationName is accepted under its name as is (botocore) or capitalized
(Smithy). Scalars are converted to the shape's type; a
value that does not convert stays a string so that validation reports it with the member's path.
Unknown parameters are ignored, as AWS does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.model import Shape


@dataclass
class FormNode:
    """One segment of the dotted parameter names: its own value and the segments below it."""

    value: str | None = None
    children: dict[str, FormNode] = field(default_factory=dict)


def form_tree(pairs: Iterable[tuple[str, str]]) -> FormNode:
    """The dotted names of a form (`A.member.1.B=x`) as a tree; a later duplicate wins."""
    root = FormNode()
    for key, value in pairs:
        node = root
        for segment in key.split("."):
            node = node.children.setdefault(segment, FormNode())
        node.value = value
    return root


def parse_input(shape: Shape, root: FormNode, *, ec2: bool) -> dict[str, Any]:
    """The members of input structure `shape` found in the form tree."""
    return _QueryReader(ec2=ec2).structure(shape, root)


@dataclass(frozen=True)
class _QueryReader:
    ec2: bool

    def value(self, shape: Shape, node: FormNode) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, node)
        if kind == "list":
            return self.list(shape, node)
        if kind == "map":
            return self.map(shape, node)
        if node.value is None:
            return None
        return scalar(shape, node.value)

    def structure(self, shape: Shape, node: FormNode) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        for name, member in shape.members.items():
            child = next(
                (node.children[k] for k in self.member_keys(member, name) if k in node.children),
                None,
            )
            if child is None:
                continue
            value = self.value(member, child)
            if value is not None:
                parsed[name] = value
        return parsed

    def member_keys(self, member: Shape, name: str) -> list[str]:
        """The names a member may arrive under, the model's own first."""
        if self.ec2:
            keys = [ec2_name(member, name)]
            if "queryName" not in member.serialization and "name" not in member.serialization:
                keys.append(name[:1].upper() + name[1:])
            return keys
        keys = [str(member.serialization.get("name", name))]
        if member.type_name == "list" and member.serialization.get("flattened"):
            item_name = member.member.serialization.get("name")
            if item_name:
                keys.append(str(item_name))
        return keys

    def list(self, shape: Shape, node: FormNode) -> list[Any] | None:
        if not node.children:
            return [] if node.value is not None else None
        if self.ec2 or shape.serialization.get("flattened"):
            items = node.children
        else:
            wrapper = node.children.get(shape.member.serialization.get("name", "member"))
            if wrapper is None:
                return None
            items = wrapper.children
        parsed = []
        for child in _indexed(items):
            value = self.value(shape.member, child)
            if value is not None:
                parsed.append(value)
        return parsed

    def map(self, shape: Shape, node: FormNode) -> dict[str, Any] | None:
        if shape.serialization.get("flattened"):
            entries = node.children
        else:
            wrapper = node.children.get("entry")
            if wrapper is None:
                return None
            entries = wrapper.children
        key_name = self.entry_name(shape.key, "key")
        value_name = self.entry_name(shape.value, "value")
        parsed: dict[str, Any] = {}
        for entry in _indexed(entries):
            key_node = entry.children.get(key_name)
            if key_node is None or key_node.value is None:
                continue
            value_node = entry.children.get(value_name)
            if value_node is None:
                # botocore sends nothing for an empty structure value.
                if shape.value.type_name == "structure":
                    parsed[key_node.value] = {}
                continue
            value = self.value(shape.value, value_node)
            if value is not None:
                parsed[key_node.value] = value
        return parsed

    def entry_name(self, shape: Shape, default: str) -> str:
        if self.ec2:
            return ec2_name(shape, default)
        return str(shape.serialization.get("name", default))


def ec2_name(shape: Shape, default: str) -> str:
    """EC2Serializer's name: queryName, else the locationName capitalized, else the default."""
    serialization = shape.serialization
    if "queryName" in serialization:
        return str(serialization["queryName"])
    name = serialization.get("name")
    if name:
        return str(name[0].upper() + name[1:])
    return default


def _indexed(children: dict[str, FormNode]) -> list[FormNode]:
    """The children named by a positive index (`.1`, `.2`, ...), in index order."""
    numbered = [(int(k), v) for k, v in children.items() if k.isdigit() and int(k) > 0]
    return [node for _, node in sorted(numbered, key=lambda pair: pair[0])]


def scalar(shape: Shape, text: str) -> Any:
    """A form value as the shape's Python type, or the text itself when it does not convert."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind == "timestamp":
        return parse_timestamp(text) or text
    if kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return text
    return text


def parse_timestamp(text: str) -> dt.datetime | None:
    """An ISO 8601, epoch-seconds or RFC 822 timestamp as an aware UTC datetime, else None."""
    stripped = text.strip()
    try:
        return dt.datetime.fromtimestamp(float(stripped), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = dt.datetime.fromisoformat(stripped)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(stripped)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
