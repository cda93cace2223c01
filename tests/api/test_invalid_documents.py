"""The table of invalid component documents, each rejected the same way by `kiln toe validate`
and by CreateComponent: a message naming the place and the fault, and nothing stored."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from kiln.cli.main import cli
from tests.unit.toe.test_toe_validate import INVALID

CASES = [pytest.param(text, where, what, id=name) for name, text, where, what in INVALID]


@pytest.fixture(scope="module")
def shared_ib(tmp_path_factory):
    """One server for the whole table (each case is one request)."""
    from kiln.app import Kiln
    from kiln.cli.serving import background_server
    from kiln.settings import Settings
    from tests.conftest import client_for

    kiln = Kiln(Settings.load(environ={}, data_dir=tmp_path_factory.mktemp("kiln")))
    try:
        with background_server(kiln) as url:
            yield client_for(url, kiln.admin_credentials())
    finally:
        kiln.close()


@pytest.mark.parametrize(("text", "where", "what"), CASES)
def test_create_component_rejects_it_with_place_and_fault(shared_ib, text, where, what):
    with pytest.raises(ClientError) as caught:
        shared_ib.create_component(
            name="invalid-doc", semanticVersion="1.0.0", platform="Linux", data=text
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert what in error["Message"], error["Message"]
    assert where in error["Message"], error["Message"]
    assert shared_ib.list_components()["componentVersionList"] == []


@pytest.mark.parametrize(("text", "where", "what"), CASES)
def test_kiln_toe_validate_rejects_it_with_place_and_fault(tmp_path, text, where, what):
    document = tmp_path / "component.yaml"
    document.write_text(text)
    result = CliRunner().invoke(cli, ["toe", "validate", "--documents", str(document)])
    assert result.exit_code != 0, result.output
    assert what in result.output, result.output
    assert where in result.output, result.output
