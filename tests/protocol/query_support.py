"""Helpers for the query / ec2 protocol tests: botocore as the oracle, shapes as strategies."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from botocore.awsrequest import prepare_request_dict
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence
from hypothesis import strategies as st

from kiln.protocol.base import WireRequest, WireResponse

CASES_DIR = Path(__file__).resolve().parents[1] / "data" / "botocore-protocol-tests"

# Characters XML 1.0 cannot carry: outputs are generated without them.
_XML_ILLEGAL = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff"]
_MAX_DEPTH = 4


# ------------------------------------------------------------------ botocore as the oracle


def botocore_request(operation: OperationModel, params: dict[str, Any]) -> WireRequest:
    """What a botocore client sends for params (serializer without client-side validation)."""
    protocol = operation.metadata["protocol"]
    serialized = create_serializer(protocol, include_validation=False).serialize_to_request(
        params, operation
    )
    body = serialized["body"]
    if isinstance(body, dict):
        body = percent_encode_sequence(body)
    if isinstance(body, str):
        body = body.encode()
    prepare_request_dict(serialized, "https://example.com")
    headers = {k: str(v) for k, v in serialized["headers"].items()}
    return WireRequest(serialized["method"], "/", "", headers, body)


def botocore_parse(
    operation: OperationModel, response: WireResponse, *, shape: Shape | None = None
) -> dict[str, Any]:
    """What a botocore client reads from our response (shape defaults to the output shape)."""
    parser = create_parser(operation.metadata["protocol"])
    raw = {"status_code": response.status, "headers": dict(response.headers), "body": response.body}
    parsed: dict[str, Any] = parser.parse(raw, shape or operation.output_shape)
    return parsed


def botocore_error(operation: OperationModel, response: WireResponse) -> dict[str, Any]:
    """The parsed error as a botocore client sees it, modeled fields included."""
    parsed = botocore_parse(operation, response)
    code = parsed.get("Error", {}).get("Code")
    error_shape = operation.service_model.shape_for_error_code(code)
    if error_shape is not None:
        parsed.update(botocore_parse(operation, response, shape=error_shape))
    return parsed


# ------------------------------------------------------------------ botocore's compliance cases


def compliance_cases(kind: str, protocol: str) -> list[tuple[str, OperationModel, dict[str, Any]]]:
    """(id, operation model, case) for every case of input|output/{protocol}.json."""
    suites = json.loads((CASES_DIR / kind / f"{protocol}.json").read_text())
    cases = []
    for suite in suites:
        for case in suite["cases"]:
            description = {k: copy.deepcopy(v) for k, v in suite.items() if k != "cases"}
            given = copy.deepcopy(case["given"])
            if protocol == "query" and "output" in given:
                # Real query models (iam, sts) name the result wrapper on every output; these
                # cases leave it out though their bodies carry <{Op}Result>.
                given["output"].setdefault("resultWrapper", f"{given['name']}Result")
            description["operations"] = {given["name"]: given}
            model = ServiceModel(description, service_name="compliance")
            cases.append(
                (
                    case.get("id") or case.get("description") or given["name"],
                    model.operation_model(given["name"]),
                    case,
                )
            )
    return cases


def from_epoch(value: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


def case_value(shape: Shape, value: Any) -> Any:
    """A case's JSON value as the Python value a client holds (epoch → datetime, str → bytes)."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        return {k: case_value(shape.members[k], v) for k, v in value.items()}
    if kind == "list":
        return [case_value(shape.member, v) for v in value]
    if kind == "map":
        return {k: case_value(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return from_epoch(value)
    if kind == "blob":
        return value.encode()
    if kind in ("float", "double"):
        return float(value)
    return value


# ------------------------------------------------------------------ shapes as strategies


def shape_strategy(shape: Shape, *, xml: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of shape (bounded sizes; min/max/enum respected; xml: only XML-legal text)."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if depth >= _MAX_DEPTH:
            return st.just({})
        members = {
            name: shape_strategy(member, xml=xml, depth=depth + 1)
            for name, member in shape.members.items()
        }
        if shape.is_tagged_union:
            return st.one_of(*[_single(name, s) for name, s in members.items()])
        return st.fixed_dictionaries({}, optional=members)
    if kind == "list":
        if depth >= _MAX_DEPTH:
            return st.just([])
        low, high = _bounds(meta, 0, 3)
        return st.lists(
            shape_strategy(shape.member, xml=xml, depth=depth + 1), min_size=low, max_size=high
        )
    if kind == "map":
        if depth >= _MAX_DEPTH:
            return st.just({})
        low, high = _bounds(meta, 0, 3)
        return st.dictionaries(
            shape_strategy(shape.key, xml=xml, depth=depth + 1),
            shape_strategy(shape.value, xml=xml, depth=depth + 1),
            min_size=low,
            max_size=high,
        )
    if kind == "string":
        if shape.enum:
            return st.sampled_from(shape.enum)
        low, high = _bounds(meta, 0, 12)
        alphabet = st.characters(
            exclude_categories=["Cs"], exclude_characters=_XML_ILLEGAL if xml else None
        )
        return st.text(alphabet, min_size=low, max_size=high)
    if kind in ("integer", "long"):
        limit = 2**31 - 1 if kind == "integer" else 2**63 - 1
        return st.integers(meta.get("min", -limit - 1), meta.get("max", limit))
    if kind in ("float", "double"):
        return st.floats(meta.get("min"), meta.get("max"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.datetimes(
            dt.datetime(1970, 1, 2), dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
        )
    if kind == "blob":
        low, high = _bounds(meta, 0, 16)
        return st.binary(min_size=low, max_size=high)
    raise AssertionError(f"no strategy for {kind}")


def _single(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return values.map(lambda value: {name: value})


def _bounds(meta: dict[str, Any], low: int, high: int) -> tuple[int, int]:
    lo = min(int(meta.get("min", low)), high)
    hi = max(lo, min(int(meta.get("max", high)), high))
    return lo, hi


# ------------------------------------------------------------------ what survives the form wire

ABSENT = object()


def over_the_form(shape: Shape, value: Any, *, ec2: bool) -> Any:
    """value as a server can see it after botocore's form serialization (or ABSENT).

    Empty structures and maps send nothing; empty lists send `Name=` (query) or nothing (ec2);
    list items that send nothing vanish.
    """
    kind = shape.type_name
    if kind == "structure":
        kept = {}
        for name, member_value in value.items():
            seen = over_the_form(shape.members[name], member_value, ec2=ec2)
            if seen is not ABSENT:
                kept[name] = seen
        return kept or ABSENT
    if kind == "list":
        if not value:
            return ABSENT if ec2 else []
        items = [over_the_form(shape.member, v, ec2=ec2) for v in value]
        kept_items = [v for v in items if v is not ABSENT]
        return kept_items or ABSENT
    if kind == "map":
        kept_map = {}
        for key, item in value.items():
            seen = over_the_form(shape.value, item, ec2=ec2)
            if seen is ABSENT:
                if shape.value.type_name != "structure":
                    continue
                seen = {}
            kept_map[key] = seen
        return kept_map or ABSENT
    return value


def expected_input(shape: Shape | None, params: dict[str, Any], *, ec2: bool) -> dict[str, Any]:
    if shape is None:
        return {}
    seen = over_the_form(shape, params, ec2=ec2)
    return {} if seen is ABSENT else seen


def strip_metadata(parsed: dict[str, Any]) -> dict[str, Any]:
    parsed = dict(parsed)
    parsed.pop("ResponseMetadata", None)
    return parsed


def nan_safe(value: Any) -> Any:
    """value with every NaN replaced by "NaN", so that equal results compare equal."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: nan_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_safe(v) for v in value]
    return value
