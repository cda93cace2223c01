"""Launch template versions: CreateLaunchTemplateVersion, DescribeLaunchTemplateVersions,
DeleteLaunchTemplateVersions.

A new version based on SourceVersion inherits the source's launch parameters; each parameter
given in LaunchTemplateData replaces the inherited one. Versions are listed newest first.
"""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.ec2 import launch_template_filters as filters
from kiln.services.ec2 import launch_template_rows as rows
from kiln.services.ec2.errors import InvalidParameterValue, MissingParameter
from kiln.store.launch_template_schema import LaunchTemplateRow, LaunchTemplateVersionRow

MAX_DELETE = 200
_ALIASES = (rows.LATEST, rows.DEFAULT)

Pair = tuple[LaunchTemplateRow, LaunchTemplateVersionRow]


def create_launch_template_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    template = rows.named(ctx.session, params, account=ctx.account, region=ctx.region, lock=True)
    source = params.get("SourceVersion")
    inherited = rows.version(ctx.session, template, str(source)).data if source else None
    rows.dry_run(params)
    created = rows.add_version(
        ctx.session,
        template,
        data=rows.merged_data(inherited, rows.jsonable(params.get("LaunchTemplateData") or {})),
        description=params.get("VersionDescription"),
        created_by=ctx.caller.arn,
        now=ctx.now,
    )
    return {"LaunchTemplateVersion": rows.version_shape(template, created)}


def describe_launch_template_versions(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    rows.dry_run(params)
    specs = [str(v) for v in params.get("Versions") or []]
    if params.get("LaunchTemplateId") or params.get("LaunchTemplateName"):
        template = rows.named(ctx.session, params, account=ctx.account, region=ctx.region)
        pairs = _versions_of(ctx, template, specs)
    elif specs and all(spec in _ALIASES for spec in specs):
        # $Latest and/or $Default of every launch template in the account and region
        pairs = [
            pair
            for template in rows.in_scope(ctx.session, account=ctx.account, region=ctx.region)
            for pair in _versions_of(ctx, template, specs)
        ]
    else:
        raise MissingParameter(
            "The request must contain the parameter LaunchTemplateName or LaunchTemplateId "
            "(without one, Versions may hold only $Latest and $Default)."
        )
    pairs = _in_range(pairs, params.get("MinVersion"), params.get("MaxVersion"))
    views = [rows.version_shape(template, row) for template, row in pairs]
    matched = filters.matching(views, params.get("Filters"), filters.VERSION_FILTERS)
    page, token = filters.page(ctx, "DescribeLaunchTemplateVersions", matched, params)
    output: dict[str, Any] = {"LaunchTemplateVersions": page}
    if token:
        output["NextToken"] = token
    return output


def delete_launch_template_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    template = rows.named(ctx.session, params, account=ctx.account, region=ctx.region, lock=True)
    specs = [str(v) for v in params["Versions"]]
    if len(specs) > MAX_DELETE:
        raise InvalidParameterValue(
            f"You can delete up to {MAX_DELETE} launch template versions in one request."
        )
    rows.dry_run(params)
    existing = {row.version_number for row in rows.versions(ctx.session, template)}
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for spec in dict.fromkeys(specs):
        number = int(spec) if spec.isdigit() else None
        item: dict[str, Any] = {
            "LaunchTemplateId": template.launch_template_id,
            "LaunchTemplateName": template.name,
        }
        if number is not None:
            item["VersionNumber"] = number
        problem = _undeletable(template, number, existing, spec)
        if problem is not None:
            failed.append({**item, "ResponseError": problem})
            continue
        assert number is not None
        rows.delete_version(ctx.session, template, number)
        existing.discard(number)
        done.append(item)
    return {
        "SuccessfullyDeletedLaunchTemplateVersions": done,
        "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
    }


def _undeletable(
    template: LaunchTemplateRow, number: int | None, existing: set[int], spec: str
) -> dict[str, str] | None:
    if number is None or number not in existing:
        return {
            "Code": "launchTemplateVersionDoesNotExist",
            "Message": f"The specified launch template version {spec} does not exist.",
        }
    if number == template.default_version:
        return {
            "Code": "unexpectedError",
            "Message": "You cannot delete the default version of a launch template. Make "
            "another version the default first, or delete the launch template.",
        }
    return None


def _versions_of(ctx: RequestContext, template: LaunchTemplateRow, specs: list[str]) -> list[Pair]:
    """The versions `specs` name (all when none), newest first; every spec must exist."""
    if not specs:
        return [(template, row) for row in rows.versions(ctx.session, template)]
    chosen = {
        row.version_number: row for row in (rows.version(ctx.session, template, s) for s in specs)
    }
    return [(template, chosen[number]) for number in sorted(chosen, reverse=True)]


def _in_range(pairs: list[Pair], low: str | None, high: str | None) -> list[Pair]:
    bounds = []
    for name, value in (("MinVersion", low), ("MaxVersion", high)):
        if value is not None and not str(value).isdigit():
            raise InvalidParameterValue(f"The value '{value}' for {name} is not a version number.")
        bounds.append(int(value) if value is not None else None)
    least, most = bounds
    return [
        (template, row)
        for template, row in pairs
        if (least is None or row.version_number >= least)
        and (most is None or row.version_number <= most)
    ]
