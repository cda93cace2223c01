"""Output members as the XML that botocore's QueryParser / EC2QueryParser read back.

Exactly inverse to botocore/parsers.py (BaseXMLResponseParser):

    structure   <Name>members</Name>          member tag: locationName, else the member name
    list        <Name><member>..</member></Name>   (the member's locationName; ec2: <item>)
                <Name>..</Name><Name>..</Name>     flattened (tag: the member's locationName if
                                                   it has one, as botocore looks it up)
    map         <Name><entry><key/><value/></entry></Name>  (key/value locationNames;
                flattened: <Name><key/><value/></Name> repeated)
    scalars     booleans lower-case, timestamps ISO 8601 UTC (or the shape's timestampFormat),
                blobs base64, floats with NaN / Infinity / -Infinity spelled as AWS does

Outputs are plain dicts keyed by member names; None members and keys the shape does not name are
left out. Text is escaped for XML 1.0; characters XML 1.0 cannot carry become U+FFFD.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import email.utils
import enum
import math
import re
from typing import Any

from botocore.model import Shape

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def escape(text: str) -> str:
    """XML character data for text (also keeps `\\r`, which parsers would fold into `\\n`)."""
    return _ILLEGAL_XML.sub("\ufffd", text).translate(_ESCAPES)


class XmlWriter:
    """Accumulates the XML of output values; `ec2` picks `<item>` as the default list tag."""

    def __init__(self, *, ec2: bool) -> None:
        self.ec2 = ec2
        self.parts: list[str] = []

    def text(self) -> str:
        return "".join(self.parts)

    def element(self, tag: str, content: str) -> None:
        self.parts.append(f"<{tag}>{content}</{tag}>")

    def members(self, shape: Shape, value: dict[str, Any]) -> None:
        """The members of structure `value`, without an element around them."""
        for name, member in shape.members.items():
            member_value = value.get(name)
            if member_value is None:
                continue
            if member.serialization.get("flattened") and member.type_name in ("list", "map"):
                self.flattened(member, name, member_value)
            else:
                self.value(str(member.serialization.get("name", name)), member, member_value)

    def flattened(self, shape: Shape, name: str, value: Any) -> None:
        if shape.type_name == "list":
            tag = str(
                shape.member.serialization.get("name") or shape.serialization.get("name", name)
            )
            for item in value:
                self.value(tag, shape.member, item)
            return
        tag = str(shape.serialization.get("name", name))
        for key, item in value.items():
            self.parts.append(f"<{tag}>")
            self.entry(shape, key, item)
            self.parts.append(f"</{tag}>")

    def value(self, tag: str, shape: Shape, value: Any) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.parts.append(f"<{tag}>")
            self.members(shape, value)
            self.parts.append(f"</{tag}>")
        elif kind == "list":
            default = "item" if self.ec2 else "member"
            item_tag = str(shape.member.serialization.get("name", default))
            self.parts.append(f"<{tag}>")
            for item in value:
                self.value(item_tag, shape.member, item)
            self.parts.append(f"</{tag}>")
        elif kind == "map":
            self.parts.append(f"<{tag}>")
            for key, item in value.items():
                self.parts.append("<entry>")
                self.entry(shape, key, item)
                self.parts.append("</entry>")
            self.parts.append(f"</{tag}>")
        else:
            self.element(tag, escape(scalar_text(shape, value)))

    def entry(self, shape: Shape, key: Any, value: Any) -> None:
        key_tag = str(shape.key.serialization.get("name") or "key")
        value_tag = str(shape.value.serialization.get("name") or "value")
        self.value(key_tag, shape.key, key)
        if value is not None:
            self.value(value_tag, shape.value, value)


def scalar_text(shape: Shape, value: Any) -> str:
    """The text of a scalar output value as botocore's XML parsers read it."""
    kind = shape.type_name
    if isinstance(value, enum.Enum):
        value = value.value
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("integer", "long"):
        return str(int(value))
    if kind in ("float", "double"):
        return _float_text(float(value))
    if kind == "timestamp":
        return timestamp_text(value, shape.serialization.get("timestampFormat"))
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    return str(value)


def _float_text(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


def timestamp_text(value: Any, timestamp_format: str | None = None) -> str:
    """A datetime (naive = UTC), epoch number or ISO string in the format the model asks for."""
    moment = _as_datetime(value)
    fmt = (timestamp_format or "iso8601").lower()
    if fmt == "unixtimestamp":
        seconds = calendar.timegm(moment.timetuple())
        if moment.microsecond:
            return repr(seconds + moment.microsecond / 1_000_000)
        return str(seconds)
    if fmt == "rfc822":
        return email.utils.formatdate(calendar.timegm(moment.timetuple()), usegmt=True)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond % 1000 == 0 and moment.microsecond:
        return f"{text}.{moment.microsecond // 1000:03d}Z"
    if moment.microsecond:
        return f"{text}.{moment.microsecond:06d}Z"
    return f"{text}Z"


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
