"""Fixtures for infrastructure: databases, a Kiln on a temp data dir, a live server, clients."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from kiln.app import Kiln
from kiln.cli.serving import background_server
from kiln.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "KILN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REGION = "us-east-1"


def _postgres_available() -> str | None:
    """None when PostgreSQL answers; else the reason it does not."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    import sqlalchemy

    reason = _postgres_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"kiln_test_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def make_kiln(tmp_path: Path) -> Iterator[object]:
    made: list[Kiln] = []

    def make(database_url: str | None = None, data_dir: Path | None = None) -> Kiln:
        settings = Settings.load(
            environ={}, data_dir=data_dir or tmp_path / "kiln-data", database_url=database_url
        )
        kiln = Kiln(settings)
        made.append(kiln)
        return kiln

    yield make
    for kiln in made:
        kiln.close()


@pytest.fixture
def kiln(make_kiln) -> Kiln:
    return make_kiln()


@pytest.fixture
def endpoint(kiln: Kiln) -> Iterator[str]:
    with background_server(kiln) as url:
        yield url


@pytest.fixture
def admin(kiln: Kiln):
    """The administrator key Kiln made on first start."""
    return kiln.admin_credentials()


def client_for(
    endpoint: str, credentials, service: str = "imagebuilder", region: str = REGION, **kwargs
):
    """An unmodified boto3 client signing with real Kiln credentials."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=getattr(credentials, "session_token", None),
        **kwargs,
    )


def sibling_client(client, service: str):
    """A client of another service on the same endpoint, with the same credentials."""
    credentials = client._request_signer._credentials
    return boto3.session.Session().client(
        service,
        region_name=client.meta.region_name,
        endpoint_url=client.meta.endpoint_url,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )


@pytest.fixture
def ib(endpoint: str, admin):
    return client_for(endpoint, admin)


EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
IMAGEBUILDER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "imagebuilder.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
BUILD_POLICIES = (
    "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilder",
    "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilderECRContainerBuilds",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)


def make_instance_profile(endpoint: str, credentials, name: str, *, policies=BUILD_POLICIES):
    """The prerequisites page's instance profile: a role trusting EC2 with the managed
    policies attached, in an instance profile of the same name. Returns the name."""
    import json

    iam = client_for(endpoint, credentials, "iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    for arn in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


def make_execution_role(endpoint: str, credentials, name: str) -> str:
    """A role Image Builder may assume (pipelines' and lifecycle policies' executionRole)."""
    import json

    iam = client_for(endpoint, credentials, "iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(IMAGEBUILDER_TRUST))
    return role["Role"]["Arn"]
