"""Tags on launch templates for CreateTags, DeleteTags and DescribeTags (kiln.services.ec2.tags
finds this target by the `lt-` prefix). A template is the caller's, in the caller's region."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kiln.services.context import RequestContext
from kiln.services.ec2 import launch_template_rows as rows
from kiln.store.launch_template_schema import LaunchTemplateRow


class LaunchTemplateTags:
    resource_type = rows.RESOURCE_TYPE

    def tags(self, ctx: RequestContext, resource_id: str) -> dict[str, str]:
        return dict(self._row(ctx, resource_id).tags)

    def set_tags(self, ctx: RequestContext, resource_id: str, tags: Mapping[str, str]) -> None:
        self._row(ctx, resource_id).tags = dict(tags)

    def listing(self, ctx: RequestContext) -> Iterable[tuple[str, dict[str, str]]]:
        for row in rows.in_scope(ctx.session, account=ctx.account, region=ctx.region):
            yield row.launch_template_id, dict(row.tags)

    @staticmethod
    def _row(ctx: RequestContext, resource_id: str) -> LaunchTemplateRow:
        return rows.named(
            ctx.session, {"LaunchTemplateId": resource_id}, account=ctx.account, region=ctx.region
        )
