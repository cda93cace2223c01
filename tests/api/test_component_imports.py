"""ImportComponent (format SHELL) through an unmodified boto3 client."""

from __future__ import annotations

import pytest
import yaml
from botocore.exceptions import ClientError

from kiln.toe import parse_document

SCRIPT = '#!/bin/bash\nset -euo pipefail\necho "imported $(uname -s)" \'quotes: "\'\n'


def imported(ib, *, name="imported", kind="BUILD", data=SCRIPT, **extra):
    return ib.import_component(
        name=name,
        semanticVersion="1.0.0",
        type=kind,
        format="SHELL",
        platform="Linux",
        data=data,
        **extra,
    )


def code_of(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_build_script_becomes_a_one_step_build_component(ib):
    out = imported(ib, description="from a script", tags={"src": "shell"})
    arn = out["componentBuildVersionArn"]
    assert arn.endswith(":component/imported/1.0.0/1")
    assert out["clientToken"]
    component = ib.get_component(componentBuildVersionArn=arn)["component"]
    assert (component["type"], component["platform"], component["owner"]) == (
        "BUILD",
        "Linux",
        arn.split(":")[4],
    )
    assert component["description"] == "from a script"
    assert component["tags"] == {"src": "shell"}
    document = parse_document(component["data"])
    assert document.phase_names == ("build",)
    (step,) = document.phases[0].steps
    assert (step.action, step.inputs) == ("ExecuteBash", {"commands": [SCRIPT]})
    assert yaml.safe_load(component["data"])["name"] == "imported"
    listed = ib.list_components()["componentVersionList"]
    assert [c["arn"] for c in listed] == [arn.rsplit("/", 1)[0]]


def test_test_script_goes_into_a_test_phase(ib):
    arn = imported(ib, kind="TEST", data="test -x /bin/sh")["componentBuildVersionArn"]
    component = ib.get_component(componentBuildVersionArn=arn)["component"]
    assert component["type"] == "TEST"
    assert parse_document(component["data"]).phase_names == ("test",)


def test_imported_and_created_versions_share_build_numbers(ib):
    imported(ib, name="shared")
    created = ib.create_component(
        name="shared", semanticVersion="1.0.1", platform="Linux", data=_document("echo hi")
    )
    assert created["componentBuildVersionArn"].endswith("shared/1.0.1/1")
    code, message = code_of(
        ib.import_component,
        name="shared",
        semanticVersion="1.0.0",
        type="BUILD",
        format="SHELL",
        platform="Linux",
        data="echo again",
    )
    assert code == "ResourceAlreadyExistsException", message


def test_script_from_the_object_store(ib, kiln):
    store = kiln.objects.for_bucket("scripts")
    store.create_bucket("scripts")
    store.put_object("scripts", "install.sh", b"echo from-s3\n")
    created = ib.import_component(
        name="from-s3",
        semanticVersion="1.0.0",
        type="BUILD",
        format="SHELL",
        platform="Linux",
        uri="s3://scripts/install.sh",
    )
    data = ib.get_component(componentBuildVersionArn=created["componentBuildVersionArn"])[
        "component"
    ]["data"]
    assert "echo from-s3" in data
    code, message = code_of(
        ib.import_component,
        name="from-s3",
        semanticVersion="2.0.0",
        type="BUILD",
        format="SHELL",
        platform="Linux",
        uri="s3://scripts/missing.sh",
    )
    assert code == "InvalidParameterValueException"
    assert "s3://scripts/missing.sh" in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"data": "echo", "uri": "s3://b/k"}, "InvalidParameterCombinationException"),
        ({"data": "   "}, "InvalidParameterValueException"),
        ({"data": "echo", "platform": "Windows"}, "InvalidParameterValueException"),
        # the script becomes a document, so {{ }} is a reference there: refused, not mangled
        ({"data": "echo '{{ Nothing }}'"}, "InvalidParameterValueException"),
    ],
)
def test_invalid_imports(ib, fields, expected):
    params = {
        "name": "bad",
        "semanticVersion": "1.0.0",
        "type": "BUILD",
        "format": "SHELL",
        "platform": "Linux",
        **fields,
    }
    code, _message = code_of(ib.import_component, **params)
    assert code == expected
    assert ib.list_components()["componentVersionList"] == []


def test_client_token_makes_the_import_idempotent(ib):
    first = imported(ib, clientToken="tok-1")
    again = imported(ib, clientToken="tok-1")
    assert again["componentBuildVersionArn"] == first["componentBuildVersionArn"]
    assert len(ib.list_component_build_versions(
        componentVersionArn=first["componentBuildVersionArn"].rsplit("/", 1)[0]
    )["componentSummaryList"]) == 1  # fmt: skip


def _document(command):
    return yaml.safe_dump(
        {
            "schemaVersion": 1.0,
            "phases": [
                {
                    "name": "build",
                    "steps": [
                        {"name": "S", "action": "ExecuteBash", "inputs": {"commands": [command]}}
                    ],
                }
            ],
        }
    )
