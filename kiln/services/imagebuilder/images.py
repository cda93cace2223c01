"""Images as records: the build versions an image build produces, and reading them.

Creating an image is the build engine's work (CreateImage / pipeline executions, issue #6); it
writes the record through `record_image`. Deleting a record never deletes the AMIs or container
images a build distributed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from kiln.core.arn import imagebuilder_arn
from kiln.core.clock import aws_datetime
from kiln.core.semver import Version
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versioned, versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceDependencyException,
)
from kiln.services.imagebuilder.filters import apply_filters
from kiln.services.imagebuilder.policy_documents import shared_accounts
from kiln.store import resources
from kiln.store.resources import Scope
from kiln.store.schema import ResourceRow

RESOURCE = "image"
IN_PROGRESS = frozenset(
    {"PENDING", "CREATING", "BUILDING", "TESTING", "DISTRIBUTING", "INTEGRATING"}
)
FILTERS = {
    "name": lambda body: [body.get("name")],
    "osVersion": lambda body: [body.get("osVersion")],
    "platform": lambda body: [body.get("platform")],
    "type": lambda body: [body.get("type")],
    "version": lambda body: [body.get("version")],
}
_VERSION_KEYS = (
    "name",
    "type",
    "version",
    "platform",
    "osVersion",
    "owner",
    "dateCreated",
    "buildType",
    "imageSource",
)
_SUMMARY_KEYS = (
    "arn",
    "name",
    "type",
    "version",
    "platform",
    "osVersion",
    "state",
    "owner",
    "dateCreated",
    "outputResources",
    "buildType",
    "imageSource",
    "deprecationTime",
    "lifecycleExecutionId",
    "loggingConfiguration",
)


def record_image(
    session: Session, scope: Scope, *, body: dict[str, Any], now: dt.datetime
) -> ResourceRow:
    """Write the record of a new image build version; the engine calls this.

    `body` is the `Image` shape without `arn`: at least `name` and `version` (the recipe's);
    `tags` in it become the row's tags. The ARN gets the version's next build number; `state`
    defaults to PENDING, `type` to AMI, `dateCreated` to now, `owner` to the scope's account.
    """
    fields = dict(body)
    tags = fields.pop("tags", None) or {}
    version = Version.parse(str(fields["version"]))
    version_arn = imagebuilder_arn(
        region=scope.region,
        account=scope.account,
        resource_type=RESOURCE,
        name=str(fields["name"]),
        version=str(version),
    )
    build = resources.next_build(session, str(version_arn))
    arn = version_arn.with_version(str(version), build)
    fields.setdefault("type", "AMI")
    fields.setdefault("state", {"status": "PENDING"})
    fields.setdefault("dateCreated", aws_datetime(now))
    fields.setdefault("buildType", "USER_INITIATED")
    fields["owner"] = scope.account
    fields["arn"] = str(arn)
    fields["version"] = str(version)
    return resources.add(
        session,
        scope,
        resource_type=RESOURCE,
        arn=str(arn),
        name=str(fields["name"]),
        arn_name=arn.name,
        body={k: v for k, v in fields.items() if v is not None},
        tags=dict(tags),
        now=now,
        version=version,
        build=build,
        status=fields["state"].get("status"),
    )


def get_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "imageBuildVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    row = versions.resolve(ctx, arn)
    return {
        "image": {**row.body, "tags": row.tags or None},
        "latestVersionReferences": versions.latest_version_references(row),
    }


def list_images(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = versions.latest_builds(versions.rows_for_owner(ctx, RESOURCE, params.get("owner")))
    if not params.get("includeDeprecated"):
        rows = [row for row in rows if _status(row) != "DEPRECATED"]
    filters = params.get("filters")
    bodies = apply_filters([row.body for row in rows], filters, FILTERS)
    if params.get("byName"):
        names = {v for f in filters or [] if f.get("name") == "name" for v in f["values"]}
        if not names:
            raise InvalidParameterValueException(
                "byName lists the images of one recipe name: add a 'name' filter."
            )
        bodies = [body for body in bodies if body["name"] in names]
    entries = [versioned.version_entry(body, _VERSION_KEYS) for body in bodies]
    page, token = versioned.page(ctx, "ListImages", entries, params)
    return {"imageVersionList": page, "nextToken": token}


def list_image_build_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "imageVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    rows = versioned.builds_of(ctx, arn, RESOURCE)
    by_arn = {row.arn: row for row in rows}
    bodies = apply_filters([row.body for row in rows], params.get("filters"), FILTERS)
    summaries = [image_summary(by_arn[body["arn"]]) for body in bodies]
    page, token = versioned.page(ctx, "ListImageBuildVersions", summaries, params)
    return {"imageSummaryList": page, "nextToken": token}


def delete_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "imageBuildVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    row = versions.resolve(ctx, arn)
    versions.require_owner(ctx, row, noun="image", named=str(arn))
    status = _status(row)
    if status in IN_PROGRESS:
        raise ResourceDependencyException(
            f"The image '{row.arn}' cannot be deleted while its build is {status}: cancel it "
            "with CancelImageCreation first."
        )
    shared = sorted(shared_accounts(row.policy) - {row.owner})
    if shared:
        raise ResourceDependencyException(
            f"The image '{row.arn}' cannot be deleted while it is shared with "
            f"{', '.join(shared)}: put an image policy that names only account {row.owner} first."
        )
    versions.remove_unused(ctx, row, noun="image")
    return {"imageBuildVersionArn": row.arn}


def image_summary(row: ResourceRow) -> dict[str, Any]:
    """The `ImageSummary` of one image build version."""
    return versioned.summary(row, _SUMMARY_KEYS)


def _status(row: ResourceRow) -> str | None:
    state = row.body.get("state") or {}
    status = state.get("status")
    return str(status) if status is not None else None
