"""ImportComponent: a shell script (format SHELL, the only format AWS has) becomes a component.

The script is wrapped into a one-step ExecuteBash document (kiln.toe.shell_script_document): in a
`build` phase for type BUILD, in a `test` phase for type TEST, so the stored component's type is
what the caller asked for. The document is then stored exactly as CreateComponent stores one
(same row, same body), so every other component operation treats imported and created
components alike. A script containing `{{ ... }}` is refused like any document whose reference
names nothing: in the document it would be a reference, and AWSTOE has no way to escape it.
"""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.imagebuilder import components
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
)
from kiln.services.imagebuilder.uris import read_document_uri
from kiln.toe import shell_script_document

FORMATS = ("SHELL",)
PHASE_FOR_TYPE = {"BUILD": "build", "TEST": "test"}
SHELL_PLATFORMS = ("Linux", "macOS")


def import_component(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    script = _script(ctx, params)
    if params["format"] not in FORMATS:
        raise InvalidParameterValueException(
            f"The format '{params['format']}' is not supported; use one of {', '.join(FORMATS)}."
        )
    phase = PHASE_FOR_TYPE.get(params["type"])
    if phase is None:
        raise InvalidParameterValueException(
            f"The component type '{params['type']}' is not valid; use BUILD or TEST."
        )
    if params["platform"] not in SHELL_PLATFORMS:
        raise InvalidParameterValueException(
            f"A SHELL component runs its script with bash, which platform "
            f"'{params['platform']}' does not have; use {' or '.join(SHELL_PLATFORMS)}."
        )
    document = shell_script_document(script, name=params["name"], phase=phase)
    created = components.create_component(
        ctx,
        {
            "name": params["name"],
            "semanticVersion": params["semanticVersion"],
            "description": params.get("description"),
            "changeDescription": params.get("changeDescription"),
            "platform": params["platform"],
            "data": document,
            "kmsKeyId": params.get("kmsKeyId"),
            "tags": params.get("tags"),
            "clientToken": params.get("clientToken"),
        },
    )
    return {
        "clientToken": created["clientToken"],
        "componentBuildVersionArn": created["componentBuildVersionArn"],
    }


def _script(ctx: RequestContext, params: dict[str, Any]) -> str:
    data, uri = params.get("data"), params.get("uri")
    if data and uri:
        raise InvalidParameterCombinationException(
            "You can specify either 'data' or 'uri' for an imported component, not both."
        )
    if uri:
        data = read_document_uri(ctx, str(uri), member="uri")
    if not data or not str(data).strip():
        raise InvalidParameterValueException(
            "An imported component needs its shell script: specify 'data' (or 'uri')."
        )
    return str(data)
