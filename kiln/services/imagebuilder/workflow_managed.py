"""The AWS-managed workflows (owner ``aws``) as rows, seeded lazily per region.

Why rows rather than serving them from data: every reader of versioned resources
(``versions.resolve``, ``rows_for_owner``, build-version listings, references from pipelines)
already works on rows, so seeding once per region keeps one code path for user and managed
workflows, and a pipeline's reference to ``.../aws:workflow/build/build-image/1.0.0/1`` is an
ordinary reference row. Seeding is idempotent and checked per name, so a later Kiln that ships
another managed workflow adds it on first use; a concurrent first use that loses the race rolls
back its savepoint and reads the winner's rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from kiln.core.arn import imagebuilder_arn
from kiln.core.semver import Version
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.versions import AMAZON_OWNER
from kiln.services.imagebuilder.workflow_documents import workflow_body
from kiln.store import resources
from kiln.store.resources import Scope
from kiln.workflow import ManagedWorkflow, managed_workflows

RESOURCE = "workflow"
MANAGED_BUILD = 1


def ensure_managed_workflows(ctx: RequestContext) -> None:
    """Make sure every managed workflow has its row in the caller's region."""
    seeded = {
        row.arn_name
        for row in resources.listing(
            ctx.session, resource_type=RESOURCE, region=ctx.region, owners=[AMAZON_OWNER]
        )
    }
    for name, managed in managed_workflows().items():
        if name in seeded:
            continue
        try:
            with ctx.session.begin_nested():
                _seed(ctx, managed)
        except IntegrityError:
            continue  # another request seeded it first


def _seed(ctx: RequestContext, managed: ManagedWorkflow) -> None:
    kind = managed.workflow_type.value.lower()
    arn = imagebuilder_arn(
        region=ctx.region,
        account=AMAZON_OWNER,
        resource_type=RESOURCE,
        name=managed.name,
        version=managed.version,
        build=MANAGED_BUILD,
        kind=kind,
    )
    body: dict[str, Any] = workflow_body(
        arn=str(arn),
        name=managed.name,
        version=managed.version,
        workflow_type=managed.workflow_type.value,
        owner=AMAZON_OWNER,
        data=managed.data,
        document=managed.document,
        now=ctx.now,
        description=managed.document.description,
    )
    resources.add(
        ctx.session,
        Scope(AMAZON_OWNER, ctx.region),
        resource_type=RESOURCE,
        arn=str(arn),
        name=managed.name,
        arn_name=arn.name,
        body=body,
        tags={},
        now=ctx.now,
        version=Version.parse(managed.version),
        build=MANAGED_BUILD,
        owner=AMAZON_OWNER,
    )
