"""Rows for API tests, written straight into a Kiln's database (for resources whose Create*
belongs to another family, or which only the build engine creates, such as images)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiln.core.arn import imagebuilder_arn
from kiln.core.clock import aws_datetime
from kiln.core.semver import Version
from kiln.services.imagebuilder.images import record_image
from kiln.store import resources
from kiln.store.resources import Scope
from kiln.store.schema import AccountRow

REGION = "us-east-1"
COMPONENT_DOC = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands: ["echo hello"]
"""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _scope(kiln, account: str | None) -> Scope:
    return Scope(account or kiln.default_account, REGION)


def add_account(kiln, account_id: str, name: str = "other") -> str:
    with kiln.database.transaction() as session:
        session.add(AccountRow(account_id=account_id, name=name, created_at=_now()))
    return account_id


def _versioned(kiln, resource_type, *, name, version, body, account=None, build=None, tags=None):
    scope = _scope(kiln, account)
    arn = imagebuilder_arn(
        region=REGION,
        account=scope.account,
        resource_type=resource_type,
        name=name,
        version=version,
        build=build,
    )
    full = {"arn": str(arn), "name": name, "version": version, "owner": scope.account, **body}
    full.setdefault("dateCreated", aws_datetime(_now()))
    with kiln.database.transaction() as session:
        resources.add(
            session,
            scope,
            resource_type=resource_type,
            arn=str(arn),
            name=name,
            arn_name=arn.name,
            body=full,
            tags=tags or {},
            now=_now(),
            version=Version.parse(version),
            build=build,
        )
    return str(arn)


def add_image_recipe(kiln, name="web", version="1.0.0", *, account=None, platform="Linux"):
    body = {
        "type": "AMI",
        "platform": platform,
        "parentImage": f"arn:aws:imagebuilder:{REGION}:aws:image/debian-12-x86/x.x.x",
        "components": [],
        "blockDeviceMappings": [],
        "workingDirectory": "/tmp",
    }
    return _versioned(kiln, "image-recipe", name=name, version=version, body=body, account=account)


def add_container_recipe(kiln, name="app", version="1.0.0", *, account=None):
    body = {
        "containerType": "DOCKER",
        "platform": "Linux",
        "parentImage": "debian:12",
        "components": [],
        "dockerfileTemplateData": "FROM {{{ imagebuilder:parentImage }}}\n",
        "targetRepository": {"service": "ECR", "repositoryName": "app"},
    }
    return _versioned(
        kiln, "container-recipe", name=name, version=version, body=body, account=account
    )


def add_component(kiln, name="shared-tool", version="1.0.0", *, account=None):
    body = {
        "type": "BUILD",
        "platform": "Linux",
        "state": {"status": "ACTIVE"},
        "data": COMPONENT_DOC,
        "encrypted": True,
    }
    return _versioned(
        kiln, "component", name=name, version=version, body=body, account=account, build=1
    )


def _named(kiln, resource_type, name, body, account=None):
    scope = _scope(kiln, account)
    arn = imagebuilder_arn(
        region=REGION, account=scope.account, resource_type=resource_type, name=name
    )
    full = {"arn": str(arn), "name": name, "dateCreated": aws_datetime(_now()), **body}
    with kiln.database.transaction() as session:
        resources.add(
            session,
            scope,
            resource_type=resource_type,
            arn=str(arn),
            name=name,
            arn_name=arn.name,
            body=full,
            tags={},
            now=_now(),
        )
    return str(arn)


def add_infrastructure(kiln, name="builders", *, account=None):
    body = {"instanceProfileName": "kiln-builder", "terminateInstanceOnFailure": True}
    return _named(kiln, "infrastructure-configuration", name, body, account)


def add_distribution(kiln, name="everywhere", *, account=None):
    body = {"distributions": [{"region": REGION, "amiDistributionConfiguration": {}}]}
    return _named(kiln, "distribution-configuration", name, body, account)


def add_image(
    kiln,
    name="web",
    version="1.0.0",
    *,
    status="AVAILABLE",
    account=None,
    pipeline_arn: str | None = None,
    **extra: Any,
) -> str:
    """An image record, written the way the build engine writes one (record_image)."""
    body = {
        "name": name,
        "version": version,
        "type": "AMI",
        "platform": "Linux",
        "osVersion": "Debian 12",
        "state": {"status": status},
        "imageSource": "CUSTOM",
        "sourcePipelineArn": pipeline_arn,
        "outputResources": {"amis": [{"region": REGION, "image": "ami-0123456789abcdef0"}]},
        **extra,
    }
    with kiln.database.transaction() as session:
        row = record_image(session, _scope(kiln, account), body=body, now=_now())
        return row.arn
