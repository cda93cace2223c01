"""Stored launch templates: finding them, numbering their versions, and their AWS shapes.

Everything here takes the caller's SQLAlchemy session, so a version the distribution engine
adds commits with the rest of its work. A template is found only in its own account and
region: another account's `lt-` id is simply not found, as in EC2.

Errors (EC2's codes; the general ones are in kiln.services.ec2.errors):

    ClientError
    ├── LaunchTemplateIdMalformed        InvalidLaunchTemplateId.Malformed
    ├── LaunchTemplateNotFound           InvalidLaunchTemplateId.NotFound
    ├── LaunchTemplateNameNotFound       InvalidLaunchTemplateName.NotFoundException
    ├── LaunchTemplateNameMalformed      InvalidLaunchTemplateName.MalformedException
    ├── LaunchTemplateNameInUse          InvalidLaunchTemplateName.AlreadyExistsException
    └── LaunchTemplateVersionNotFound    InvalidLaunchTemplateId.VersionNotFound

Tags: kiln.services.ec2.launch_template_tags serves CreateTags & co.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.core.arn import PARTITION, Arn
from kiln.core.clock import as_utc
from kiln.core.errors import ClientError
from kiln.services.ec2.errors import (
    DryRunOperation,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from kiln.store.launch_template_schema import LaunchTemplateRow, LaunchTemplateVersionRow

LAUNCH_TEMPLATE_ID = re.compile(r"^lt-[0-9a-f]{17}$")
LAUNCH_TEMPLATE_NAME = re.compile(r"^[a-zA-Z0-9().\-/_]{3,128}$")
LATEST = "$Latest"
DEFAULT = "$Default"
RESOURCE_TYPE = "launch-template"


class LaunchTemplateIdMalformed(ClientError):
    code = "InvalidLaunchTemplateId.Malformed"


class LaunchTemplateNotFound(ClientError):
    """No launch template with this id in the account and region (also what
    apply_launch_template_configuration raises)."""

    code = "InvalidLaunchTemplateId.NotFound"


class LaunchTemplateNameNotFound(ClientError):
    code = "InvalidLaunchTemplateName.NotFoundException"


class LaunchTemplateNameMalformed(ClientError):
    code = "InvalidLaunchTemplateName.MalformedException"


class LaunchTemplateNameInUse(ClientError):
    code = "InvalidLaunchTemplateName.AlreadyExistsException"


class LaunchTemplateVersionNotFound(ClientError):
    code = "InvalidLaunchTemplateId.VersionNotFound"


def dry_run(params: Mapping[str, Any]) -> None:
    """Authorisation has already passed when an operation runs: a dry run stops here."""
    if params.get("DryRun"):
        raise DryRunOperation("Request would have succeeded, but DryRun flag is set.")


def new_id() -> str:
    return "lt-" + secrets.token_hex(9)[:17]


def arn(*, region: str, account: str, launch_template_id: str) -> str:
    return str(Arn(PARTITION, "ec2", region, account, f"{RESOURCE_TYPE}/{launch_template_id}"))


def check_id(launch_template_id: str) -> None:
    if not LAUNCH_TEMPLATE_ID.match(launch_template_id):
        raise LaunchTemplateIdMalformed(
            f"The launch template ID '{launch_template_id}' is malformed. Specify the launch "
            "template ID in the form lt-xxxxxxxxxxxxxxxxx."
        )


def check_name(name: str) -> None:
    if not LAUNCH_TEMPLATE_NAME.match(name):
        raise LaunchTemplateNameMalformed(
            f"The launch template name '{name}' is not valid. A launch template name must be "
            "between 3 and 128 characters, and may contain letters, numbers, and the following "
            "characters: - ( ) . / _"
        )


# ---------------------------------------------------------------- finding templates


def by_id(
    session: Session, *, account: str, region: str, launch_template_id: str, lock: bool = False
) -> LaunchTemplateRow | None:
    query = select(LaunchTemplateRow).where(
        LaunchTemplateRow.launch_template_id == launch_template_id,
        LaunchTemplateRow.account == account,
        LaunchTemplateRow.region == region,
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def by_name(
    session: Session, *, account: str, region: str, name: str, lock: bool = False
) -> LaunchTemplateRow | None:
    query = select(LaunchTemplateRow).where(
        LaunchTemplateRow.name == name,
        LaunchTemplateRow.account == account,
        LaunchTemplateRow.region == region,
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def in_scope(session: Session, *, account: str, region: str) -> list[LaunchTemplateRow]:
    query = (
        select(LaunchTemplateRow)
        .where(LaunchTemplateRow.account == account, LaunchTemplateRow.region == region)
        .order_by(LaunchTemplateRow.created_at, LaunchTemplateRow.launch_template_id)
    )
    return list(session.scalars(query))


def named(
    session: Session, params: Mapping[str, Any], *, account: str, region: str, lock: bool = False
) -> LaunchTemplateRow:
    """The template a request names by LaunchTemplateId or LaunchTemplateName (one of them)."""
    template_id = params.get("LaunchTemplateId")
    name = params.get("LaunchTemplateName")
    if template_id and name:
        raise InvalidParameterCombination(
            "Specify either the launch template ID or the launch template name, but not both."
        )
    if template_id:
        check_id(template_id)
        row = by_id(
            session, account=account, region=region, launch_template_id=template_id, lock=lock
        )
        if row is None:
            raise LaunchTemplateNotFound(
                f"The specified launch template, with template ID {template_id}, does not exist."
            )
        return row
    if name:
        row = by_name(session, account=account, region=region, name=name, lock=lock)
        if row is None:
            raise LaunchTemplateNameNotFound(
                f"The specified launch template, with template name {name}, does not exist."
            )
        return row
    raise MissingParameter(
        "The request must contain the parameter LaunchTemplateName or LaunchTemplateId"
    )


# ---------------------------------------------------------------- versions


def versions(session: Session, template: LaunchTemplateRow) -> list[LaunchTemplateVersionRow]:
    """Every version of a template, newest first."""
    query = (
        select(LaunchTemplateVersionRow)
        .where(LaunchTemplateVersionRow.launch_template_id == template.launch_template_id)
        .order_by(LaunchTemplateVersionRow.version_number.desc())
    )
    return list(session.scalars(query))


def version_number(template: LaunchTemplateRow, spec: str) -> int:
    """The number a version string means: a number, `$Latest` or `$Default`."""
    if spec == LATEST:
        return template.latest_version
    if spec == DEFAULT:
        return template.default_version
    if not spec.isdigit():
        raise InvalidParameterValue(
            f"The version '{spec}' is not valid. Specify a version number, $Latest or $Default."
        )
    return int(spec)


def version(session: Session, template: LaunchTemplateRow, spec: str) -> LaunchTemplateVersionRow:
    number = version_number(template, spec)
    row = session.get(LaunchTemplateVersionRow, (template.launch_template_id, number))
    if row is None:
        raise LaunchTemplateVersionNotFound(
            f"The specified launch template version {spec} does not exist for launch template "
            f"{template.launch_template_id}."
        )
    return row


def create(
    session: Session,
    *,
    account: str,
    region: str,
    name: str,
    data: dict[str, Any],
    description: str | None,
    created_by: str,
    tags: Mapping[str, str],
    now: dt.datetime,
) -> tuple[LaunchTemplateRow, LaunchTemplateVersionRow]:
    """A new template with its version 1 (the default)."""
    check_name(name)
    if by_name(session, account=account, region=region, name=name) is not None:
        raise LaunchTemplateNameInUse(f"Launch template name already in use: {name}.")
    template = LaunchTemplateRow(
        launch_template_id=new_id(),
        account=account,
        region=region,
        name=name,
        default_version=1,
        latest_version=0,
        last_version=0,
        created_by=created_by,
        tags=dict(tags),
        created_at=now,
    )
    session.add(template)
    session.flush()
    first = add_version(
        session, template, data=data, description=description, created_by=created_by, now=now
    )
    return template, first


def add_version(
    session: Session,
    template: LaunchTemplateRow,
    *,
    data: dict[str, Any],
    description: str | None,
    created_by: str,
    now: dt.datetime,
) -> LaunchTemplateVersionRow:
    """The template's next version (numbers are never reused); the caller holds the row lock."""
    number = template.last_version + 1
    row = LaunchTemplateVersionRow(
        launch_template_id=template.launch_template_id,
        version_number=number,
        description=description,
        data=jsonable(data),
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    template.last_version = number
    template.latest_version = number
    session.flush()
    return row


def delete_version(session: Session, template: LaunchTemplateRow, number: int) -> None:
    row = session.get(LaunchTemplateVersionRow, (template.launch_template_id, number))
    if row is not None:
        session.delete(row)
        session.flush()
    highest = session.scalar(
        select(func.max(LaunchTemplateVersionRow.version_number)).where(
            LaunchTemplateVersionRow.launch_template_id == template.launch_template_id
        )
    )
    template.latest_version = int(highest or 0)


def delete(session: Session, template: LaunchTemplateRow) -> None:
    for row in versions(session, template):
        session.delete(row)
    session.flush()
    session.delete(template)
    session.flush()


def merged_data(source: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """A new version's data: the source version's parameters, each replaced by the one given."""
    return {**(source or {}), **given}


def jsonable(value: Any) -> Any:
    """Request data as JSON: timestamps as ISO 8601 text, no None members."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return as_utc(value).astimezone(dt.UTC).isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


# ---------------------------------------------------------------- AWS shapes


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def template_shape(template: LaunchTemplateRow) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "LaunchTemplateId": template.launch_template_id,
        "LaunchTemplateName": template.name,
        "CreateTime": template.created_at,
        "CreatedBy": template.created_by,
        "DefaultVersionNumber": template.default_version,
        "LatestVersionNumber": template.latest_version,
    }
    if template.tags:
        shape["Tags"] = tag_list(template.tags)
    return shape


def version_shape(template: LaunchTemplateRow, row: LaunchTemplateVersionRow) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "LaunchTemplateId": template.launch_template_id,
        "LaunchTemplateName": template.name,
        "VersionNumber": row.version_number,
        "CreateTime": row.created_at,
        "CreatedBy": row.created_by,
        "DefaultVersion": row.version_number == template.default_version,
        "LaunchTemplateData": row.data,
    }
    if row.description is not None:
        shape["VersionDescription"] = row.description
    return shape
