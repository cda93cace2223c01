from __future__ import annotations

import pytest
from sqlalchemy import text

from kiln.cli.serving import background_server
from tests.conftest import client_for


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kiln(request, make_kiln):
    """A Kiln on SQLite, or on a fresh PostgreSQL database."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        _truncate(url)
        return make_kiln(database_url=url)
    return make_kiln()


def _truncate(url):
    from kiln.store.database import Database
    from kiln.store.tables import Base

    database = Database(url)
    database.migrate()
    with database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(text(f"DELETE FROM {table.name}"))
    database.dispose()


@pytest.fixture
def store_ib(store_kiln):
    with background_server(store_kiln) as url:
        yield client_for(url, store_kiln.admin_credentials())


# ---------------------------------------------------------------- output conformance
#
# Every Image Builder client the API tests make (client_for, sibling_client, store_ib...) comes
# from boto3.session.Session.client; the hook below registers a `before-parse` handler on each,
# which checks the RAW JSON body of every successful response against the operation's output
# shape: every member present is known to the shape (recursively), of the shape's type (and
# enum), and every required member is present. A violation fails the test with its path.

_NUMBER = (int, float)


def shape_violations(shape, value, path: str) -> list[str]:
    """Where `value` (parsed JSON) does not conform to the botocore `shape`."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({shape.name}), got {type(value).__name__}"]
        wire = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        problems = [
            f"{path}.{key}: not a member of {shape.name}" for key in value if key not in wire
        ]
        problems += [
            f"{path}.{name}: required by {shape.name} but missing"
            for name in shape.required_members
            if shape.members[name].serialization.get("name", name) not in value
        ]
        for key, member_value in value.items():
            if key in wire:
                problems += shape_violations(wire[key], member_value, f"{path}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list ({shape.name}), got {type(value).__name__}"]
        return [
            p
            for i, item in enumerate(value)
            for p in shape_violations(shape.member, item, f"{path}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map ({shape.name}), got {type(value).__name__}"]
        return [
            p for k, v in value.items() for p in shape_violations(shape.value, v, f"{path}[{k!r}]")
        ]
    return _scalar_violations(shape, value, path)


def _scalar_violations(shape, value, path: str) -> list[str]:
    kind = shape.type_name
    expected = {
        "string": str,
        "boolean": bool,
        "integer": int,
        "long": int,
        "float": _NUMBER,
        "double": _NUMBER,
        "timestamp": _NUMBER,
    }.get(kind)
    if expected is None:
        return []
    wrong_bool = isinstance(value, bool) and kind != "boolean"
    if wrong_bool or not isinstance(value, expected):
        return [f"{path}: expected {kind} ({shape.name}), got {type(value).__name__} {value!r}"]
    enum = getattr(shape, "enum", None)
    if kind == "string" and enum and value not in enum:
        return [f"{path}: {value!r} is not one of {shape.name}'s values {list(enum)}"]
    return []


def body_violations(operation_model, body: bytes) -> list[str]:
    import json

    shape = operation_model.output_shape
    if shape is None:
        return []
    try:
        document = json.loads(body or b"{}")
    except ValueError as exc:
        return [f"{operation_model.name}: the body is not JSON ({exc})"]
    in_body = {
        name: member
        for name, member in shape.members.items()
        if member.serialization.get("location") is None
    }
    if not isinstance(document, dict):
        return [f"{operation_model.name}: the body is not a JSON object"]
    problems = [f"{key}: not a member of {shape.name}" for key in document if key not in in_body]
    problems += [
        f"{name}: required by {shape.name} but missing"
        for name in shape.required_members
        if name in in_body and name not in document
    ]
    for key, value in document.items():
        if key in in_body:
            problems += shape_violations(in_body[key], value, key)
    return [f"{operation_model.name}: {problem}" for problem in problems]


class ConformanceViolation(AssertionError):
    """A response body that does not conform to its operation's output shape."""


@pytest.fixture(autouse=True)
def conformance(monkeypatch):
    """Check every successful Image Builder response body of the test (see above)."""
    import boto3.session

    found: list[str] = []
    original = boto3.session.Session.client

    def check(operation_model, response_dict, **_kwargs):
        if response_dict.get("status_code") != 200:
            return
        problems = body_violations(operation_model, response_dict.get("body") or b"")
        if problems:
            found.extend(problems)
            raise ConformanceViolation("; ".join(problems))

    def client(self, *args, **kwargs):
        made = original(self, *args, **kwargs)
        if made.meta.service_model.service_name == "imagebuilder":
            made.meta.events.register("before-parse.imagebuilder.*", check)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    yield found
    assert not found, "responses that do not conform to the model:\n" + "\n".join(found)


@pytest.fixture
def registered_ami(kiln):
    """`ami-0123456789abcdef0`, registered in the default account: recipes that name an AMI as
    parent or instance image need one that exists and that the account may launch."""
    from kiln.amis import registry
    from kiln.core.clock import utcnow

    with kiln.database.transaction() as session:
        registry.register(
            session, ami_id="ami-0123456789abcdef0", account=kiln.default_account,
            region="us-east-1", name="test parent", disk="us-east-1/ami-0123456789abcdef0.qcow2",
            now=utcnow(),
        )  # fmt: skip
    return "ami-0123456789abcdef0"
