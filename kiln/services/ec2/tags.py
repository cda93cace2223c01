"""CreateTags, DeleteTags, DescribeTags over every EC2 resource Kiln keeps.

Which resource an id names is decided here alone, by its prefix (`TAG_TARGETS`): each target
reads and writes the caller's tags of one resource type and lists the resources the caller sees.
A new resource type adds one entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from kiln.amis import registry
from kiln.services.context import RequestContext
from kiln.services.ec2 import filters, paging
from kiln.services.ec2.ami_access import (
    dry_run,
    find_visible,
    tag_changes,
    tags_of,
    visible_to,
)
from kiln.services.ec2.errors import (
    InvalidID,
    InvalidParameterValue,
    TagLimitExceeded,
)
from kiln.services.ec2.launch_template_tags import LaunchTemplateTags

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256


class TagTarget(Protocol):
    resource_type: str

    def tags(self, ctx: RequestContext, resource_id: str) -> dict[str, str]:
        """The caller's tags of the resource; the resource type's NotFound error otherwise."""
        ...

    def set_tags(self, ctx: RequestContext, resource_id: str, tags: Mapping[str, str]) -> None: ...

    def listing(self, ctx: RequestContext) -> Iterable[tuple[str, dict[str, str]]]:
        """(id, the caller's tags) of every resource of this type the caller sees."""
        ...


class ImageTags:
    resource_type = "image"

    def tags(self, ctx: RequestContext, resource_id: str) -> dict[str, str]:
        return tags_of(find_visible(ctx, resource_id), ctx.account)

    def set_tags(self, ctx: RequestContext, resource_id: str, tags: Mapping[str, str]) -> None:
        ami = find_visible(ctx, resource_id)
        registry.update(ctx.session, ami.ami_id, **tag_changes(ami, ctx.account, tags))

    def listing(self, ctx: RequestContext) -> Iterable[tuple[str, dict[str, str]]]:
        for ami in registry.in_region(ctx.session, ctx.region):
            if visible_to(ami, ctx.account):
                yield ami.ami_id, tags_of(ami, ctx.account)


TAG_TARGETS: dict[str, TagTarget] = {"ami-": ImageTags(), "lt-": LaunchTemplateTags()}


def target_of(resource_id: str) -> TagTarget:
    for prefix, target in TAG_TARGETS.items():
        if resource_id.startswith(prefix):
            return target
    raise InvalidID(
        f"The ID '{resource_id}' is not valid: Kiln's EC2 tags "
        f"{', '.join(t.resource_type for t in TAG_TARGETS.values())} resources "
        f"({', '.join(p + '...' for p in TAG_TARGETS)})"
    )


def tag_map(tags: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """`[{Key, Value}]` as a dict, checked as EC2 checks tags."""
    found: dict[str, str] = {}
    for tag in tags or ():
        key = str(tag.get("Key") or "")
        value = str(tag.get("Value") or "")
        if not key or len(key) > MAX_KEY:
            raise InvalidParameterValue(
                f"Tag key '{key}' is not valid: keys are 1 to {MAX_KEY} characters"
            )
        if key.lower().startswith("aws:"):
            raise InvalidParameterValue(
                "Tag keys starting with 'aws:' are reserved for internal use"
            )
        if len(value) > MAX_VALUE:
            raise InvalidParameterValue(
                f"Tag value for key '{key}' is not valid: values are at most {MAX_VALUE} characters"
            )
        found[key] = value
    return found


def checked_total(tags: Mapping[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise TagLimitExceeded(
            f"The maximum number of Tags for a resource has been reached ({MAX_TAGS})."
        )
    return dict(tags)


def create_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = tag_map(params["Tags"])
    targets = [(rid, target_of(rid)) for rid in params["Resources"]]
    current = {rid: target.tags(ctx, rid) for rid, target in targets}
    dry_run(params)
    for rid, target in targets:
        target.set_tags(ctx, rid, checked_total({**current[rid], **wanted}))
    return {}


def delete_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Tags with a Value are removed only when the value matches (an empty string matches only
    an empty value); without Tags every tag of the resources goes."""
    given = params.get("Tags")
    targets = [(rid, target_of(rid)) for rid in params["Resources"]]
    current = {rid: target.tags(ctx, rid) for rid, target in targets}
    dry_run(params)
    for rid, target in targets:
        tags = current[rid]
        if given is None:
            kept: dict[str, str] = {}
        else:
            kept = dict(tags)
            for tag in given:
                key = str(tag.get("Key") or "")
                if key in kept and ("Value" not in tag or tag["Value"] == kept[key]):
                    del kept[key]
        if kept != tags:
            target.set_tags(ctx, rid, kept)
    return {}


_DESCRIPTION_FILTERS: dict[str, filters.Getter] = {
    "key": filters.member("Key"),
    "value": filters.member("Value"),
    "resource-id": filters.member("ResourceId"),
    "resource-type": filters.member("ResourceType"),
}


def describe_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    dry_run(params)
    paging.max_results(params)
    tag_filters = [f for f in params.get("Filters") or [] if str(f.get("Name")).startswith("tag:")]
    other_filters = [f for f in params.get("Filters") or [] if f not in tag_filters]
    on_resource = filters.predicate(tag_filters, {})
    on_tag = filters.predicate(other_filters, _DESCRIPTION_FILTERS)
    found: list[dict[str, Any]] = []
    for target in TAG_TARGETS.values():
        for rid, tags in target.listing(ctx):
            listed = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
            if not listed or not on_resource({"Tags": listed}):
                continue
            for tag in listed:
                row = {**tag, "ResourceId": rid, "ResourceType": target.resource_type}
                if on_tag(row):
                    found.append(row)
    found.sort(key=lambda row: (row["ResourceId"], row["Key"]))
    page, following = paging.page(ctx, "DescribeTags", found, params)
    return {"Tags": page, "NextToken": following}
