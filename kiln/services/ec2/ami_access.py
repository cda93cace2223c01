"""Which AMIs a caller may see, change or launch, as EC2 decides it.

An account sees the AMIs it owns, public ones (launch permission `Group: all`), Amazon's (owner
`aws`), and those whose launch permissions name it; seeing an AMI is being allowed to launch it.
Only the owner changes or deregisters an AMI: another account that can see it is answered
AuthFailure, one that cannot is told it does not exist.

Tags are per account, as EC2 keeps them for shared AMIs: the owner's live in the row's `tags`,
another account's in the row's manifest under `accountTags`, seen by that account alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import event

from kiln.amis import registry
from kiln.amis.registry import Ami
from kiln.amis.stores import ImageStores
from kiln.core.errors import ServiceError
from kiln.services.context import RequestContext
from kiln.services.ec2.errors import (
    AuthFailure,
    DryRunOperation,
    InvalidAMIIDMalformed,
    InvalidAMIIDNotFound,
)

AMI_REFERENCE = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
AMAZON_OWNER = "aws"
AMAZON_ALIAS = "amazon"
ACCOUNT_TAGS = "accountTags"


def check_ami_id(ami_id: str) -> None:
    if not AMI_REFERENCE.match(ami_id):
        raise InvalidAMIIDMalformed(f'Invalid id: "{ami_id}" (expecting "ami-...")')


def not_found(*ami_ids: str) -> InvalidAMIIDNotFound:
    listed = ", ".join(ami_ids)
    if len(ami_ids) == 1:
        return InvalidAMIIDNotFound(f"The image id '[{listed}]' does not exist")
    return InvalidAMIIDNotFound(f"The image ids '[{listed}]' do not exist")


def visible_to(ami: Ami, account: str) -> bool:
    return ami.account == AMAZON_OWNER or ami.launchable_by(account)


def find_visible(ctx: RequestContext, ami_id: str) -> Ami:
    """The AMI of the request's region the caller may see (and launch)."""
    check_ami_id(ami_id)
    ami = registry.get(ctx.session, ami_id)
    if ami is None or ami.region != ctx.region or not visible_to(ami, ctx.account):
        raise not_found(ami_id)
    return ami


def find_owned(ctx: RequestContext, ami_id: str) -> Ami:
    """The caller's own AMI of the request's region."""
    ami = find_visible(ctx, ami_id)
    if ami.account != ctx.account:
        raise AuthFailure(f"Not authorized for image:{ami_id}")
    return ami


def tags_of(ami: Ami, account: str) -> dict[str, str]:
    """The tags `account` put on the AMI."""
    if account == ami.account:
        return dict(ami.tags)
    return dict((ami.manifest.get(ACCOUNT_TAGS) or {}).get(account) or {})


def tag_changes(ami: Ami, account: str, tags: Mapping[str, str]) -> dict[str, Any]:
    """The registry.update arguments that make `tags` the account's tags on the AMI."""
    if account == ami.account:
        return {"tags": dict(tags)}
    others = {k: dict(v) for k, v in (ami.manifest.get(ACCOUNT_TAGS) or {}).items()}
    if tags:
        others[account] = dict(tags)
    else:
        others.pop(account, None)
    return {"manifest": {**ami.manifest, ACCOUNT_TAGS: others}}


def dry_run(params: Mapping[str, Any]) -> None:
    """EC2's DryRun: the caller was authorised (the handler did that), nothing is done."""
    if params.get("DryRun"):
        raise DryRunOperation("Request would have succeeded, but DryRun flag is set.")


def image_stores(ctx: RequestContext) -> ImageStores:
    """Every region's AMI disk store (KILN_IMAGE_STORES, else under the data directory)."""
    if ctx.images is not None:
        return ctx.images
    if ctx.data_dir is None:
        raise ServiceError("Kiln's image store is not configured for this request.")
    return ImageStores.under(ctx.data_dir)


def known_image_stores(ctx: RequestContext) -> ImageStores | None:
    """The image stores when the request has any (a context made without a data directory,
    as some unit tests make, has none: sizes are then estimated, disks left alone)."""
    return image_stores(ctx) if ctx.images is not None or ctx.data_dir is not None else None


def after_commit(ctx: RequestContext, action: Callable[[], None]) -> None:
    """Run `action` once the request's transaction has committed."""
    event.listen(ctx.session, "after_commit", lambda _session: action(), once=True)


def after_rollback(ctx: RequestContext, action: Callable[[], None]) -> None:
    """Run `action` if the request's transaction rolls back."""
    event.listen(ctx.session, "after_rollback", lambda _session: action(), once=True)
