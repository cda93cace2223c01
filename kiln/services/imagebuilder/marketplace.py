"""AWS Marketplace resources. A Kiln deployment has no Marketplace and no subscriptions, so
every Marketplace resource a caller asks for does not exist."""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import ResourceNotFoundException


def get_marketplace_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    del ctx
    raise ResourceNotFoundException(
        f"The Marketplace resource '{params['resourceArn']}' does not exist: this Kiln "
        "deployment has no AWS Marketplace products or subscriptions."
    )
