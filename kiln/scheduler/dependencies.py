"""EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE: whether a scheduled run has anything new
to build, compared with the pipeline's last image.

New means: the pipeline has no image yet that did not fail; or its recipe is another one than
that image's; or a component of the recipe (x wildcards resolved now) is another build than
the one that image used; or the recipe's parent is an Image Builder image whose version
selector now resolves to an image created after that image. A failed or cancelled image does
not count as having built what it was given.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from kiln.core.clock import as_utc
from kiln.engine.plan import BuildPlan
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.pipeline_links import resolve_links
from kiln.services.imagebuilder.recipe_components import resolve_components
from kiln.store import resources
from kiln.store.engine_schema import WorkItemRow
from kiln.store.schema import ResourceRow

IMAGE = "image"
_NOT_BUILT = frozenset({"FAILED", "CANCELLED", "DELETED"})


def update_reason(ctx: RequestContext, pipeline: ResourceRow) -> str | None:
    """Why the pipeline should build now, or None when nothing changed since its last image."""
    last = last_image(ctx, pipeline.arn)
    if last is None:
        return "the pipeline has not built an image yet"
    links = resolve_links(ctx, dict(pipeline.body))
    used = _plan_of(ctx, last.arn)
    if used is None or used.recipe_arn != links.recipe.arn:
        return f"the recipe is now {links.recipe.arn}"
    now_used = [c.row.arn for c in resolve_components(ctx, links.recipe.body.get("components"))]
    before = [c.arn for c in used.components]
    if now_used != before:
        changed = sorted(set(now_used) - set(before)) or now_used
        return f"components changed: {', '.join(changed)}"
    return _newer_parent(ctx, str(links.recipe.body.get("parentImage") or ""), last.created_at)


def last_image(ctx: RequestContext, pipeline_arn: str) -> ResourceRow | None:
    """The newest image of the pipeline that did not fail, was not cancelled or deleted."""
    rows = resources.listing(ctx.session, resource_type=IMAGE, region=ctx.region,
                             owners=[ctx.account])  # fmt: skip
    built = [
        row
        for row in rows
        if row.body.get("sourcePipelineArn") == pipeline_arn
        and (row.body.get("state") or {}).get("status") not in _NOT_BUILT
    ]
    return max(built, key=lambda row: (_aware(row.created_at), row.id), default=None)


def _plan_of(ctx: RequestContext, image_arn: str) -> BuildPlan | None:
    row = ctx.session.scalars(
        select(WorkItemRow).where(WorkItemRow.subject == image_arn).order_by(WorkItemRow.id)
    ).first()
    payload: dict[str, Any] = dict(row.payload) if row is not None else {}
    return BuildPlan.from_payload(payload["plan"]) if "plan" in payload else None


def _newer_parent(ctx: RequestContext, parent: str, built_at: dt.datetime) -> str | None:
    if not parent.startswith("arn:"):
        return None  # a registry reference or an AMI: no versions Kiln can compare
    arn = versions.parse(parent, IMAGE, member="parentImage")
    if arn.version is None:
        arn = arn.with_version("x.x.x")
    found = versions.find(ctx, arn)
    if found is None or (found.body.get("state") or {}).get("status") != "AVAILABLE":
        return None
    if _aware(found.created_at) <= _aware(built_at):
        return None
    return f"the parent image is now {found.arn}"


def _aware(moment: dt.datetime) -> dt.datetime:
    return as_utc(moment)
