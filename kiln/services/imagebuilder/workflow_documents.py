"""A workflow resource's AWS body, and checking the parameters a pipeline passes to it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kiln.core.clock import aws_datetime
from kiln.services.imagebuilder.errors import InvalidParameterValueException
from kiln.workflow import WorkflowDocument, WorkflowParameter


def workflow_body(
    *,
    arn: str,
    name: str,
    version: str,
    workflow_type: str,
    owner: str,
    data: str,
    document: WorkflowDocument,
    now: dt.datetime,
    description: str | None = None,
    change_description: str | None = None,
    kms_key_id: str | None = None,
) -> dict[str, Any]:
    """The `Workflow` shape of a workflow build version."""
    body = {
        "arn": arn,
        "name": name,
        "version": version,
        "description": description,
        "changeDescription": change_description,
        "type": workflow_type,
        "owner": owner,
        "data": data,
        "kmsKeyId": kms_key_id,
        "dateCreated": aws_datetime(now),
        "parameters": [parameter_detail(p) for p in document.parameters] or None,
    }
    return {k: v for k, v in body.items() if v is not None}


def parameter_detail(parameter: WorkflowParameter) -> dict[str, Any]:
    """A `WorkflowParameterDetail`: defaults are rendered as a list of strings."""
    detail: dict[str, Any] = {"name": parameter.name, "type": parameter.type.value}
    if parameter.has_default:
        detail["defaultValue"] = _as_strings(parameter.default)
    if parameter.description:
        detail["description"] = parameter.description
    return detail


def _as_strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return [json.dumps(value)]
    return [str(value)]


def check_parameters(workflow: dict[str, Any], given: list[dict[str, Any]] | None) -> None:
    """Parameters a WorkflowConfiguration passes must be declared by the workflow, typed as
    declared, given once, and every declared parameter without a default must be given."""
    declared = {p["name"]: p for p in workflow.get("parameters") or []}
    problems: list[str] = []
    seen: set[str] = set()
    for parameter in given or []:
        name, values = parameter["name"], parameter["value"]
        if name in seen:
            problems.append(f"parameter '{name}' is given more than once")
            continue
        seen.add(name)
        detail = declared.get(name)
        if detail is None:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(f"the workflow declares no parameter '{name}' (declared: {known})")
            continue
        fault = _type_fault(detail["type"], values)
        if fault:
            problems.append(f"parameter '{name}': {fault}")
    for name, detail in declared.items():
        if name not in seen and "defaultValue" not in detail:
            problems.append(f"parameter '{name}' has no default and must be given")
    if problems:
        raise InvalidParameterValueException(
            f"The parameters for workflow '{workflow['arn']}' are not valid: "
            + "; ".join(problems)
            + "."
        )


def _type_fault(kind: str, values: list[str]) -> str | None:
    if kind == "stringList":
        return None
    if len(values) != 1:
        return f"a {kind} parameter takes exactly one value, not {len(values)}"
    value = values[0]
    if kind == "integer":
        try:
            int(value)
        except ValueError:
            return f"{value!r} is not an integer"
    if kind == "boolean" and value not in ("true", "false"):
        return f"{value!r} is not a boolean (true or false)"
    return None
