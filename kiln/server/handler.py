"""The one generic handler: parse → validate → authorise → service → serialize.

Every failure leaves as an AWS error shape of the protocol that was asked; an unexpected
exception is logged with its request id and answered as ServiceException, never a traceback.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from botocore.model import OperationModel
from sqlalchemy.orm import Session

from kiln.app import Kiln
from kiln.core.clock import utcnow
from kiln.core.errors import ClientError, ServiceError
from kiln.core.ids import request_id as new_request_id
from kiln.iam import Principal
from kiln.protocol.base import ProtocolHandler, WireRequest, WireResponse
from kiln.protocol.validate import validate
from kiln.server.auth import authenticate, authorize
from kiln.services.context import Caller, RequestContext
from kiln.services.iam.bootstrap import ensure_service_linked_role
from kiln.services.imagebuilder.errors import NotImplementedByKiln, ServiceException
from kiln.services.imagebuilder.managed_components import ensure_managed_components

logger = logging.getLogger(__name__)

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def _seed_region(kiln: Kiln, session: Session, region: str) -> None:
    """Amazon-managed resources appear in a region the first time it is used."""
    if region in kiln.seeded_regions:
        return
    ensure_managed_components(session, region, utcnow())
    kiln.seeded_regions.add(region)


class UnknownServiceError(ClientError):
    code = "UnknownServiceException"
    status = 400


def _unsupported(protocol: ProtocolHandler) -> str:
    """The code a service uses for an action it does not offer."""
    return "InvalidRequestException" if protocol.service_name == "imagebuilder" else "InvalidAction"


@dataclass(frozen=True)
class Target:
    service: str
    region: str


def target_of(request: WireRequest, *, default_region: str) -> Target:
    """The service and region a request is for, from its SigV4 credential scope."""
    auth = request.headers.get("authorization", "")
    found = _SCOPE.search(auth)
    if found:
        return Target(found.group(2), found.group(1))
    return Target("imagebuilder", default_region)


def handle(kiln: Kiln, request: WireRequest) -> tuple[WireResponse, str, str]:
    """Answer one API request. Returns the response, the request id and the operation name."""
    request_id = new_request_id()
    target = target_of(request, default_region=kiln.settings.region)
    protocol = kiln.protocols.get(target.service) or kiln.protocols["imagebuilder"]
    operation: OperationModel | None = None
    try:
        if target.service not in kiln.protocols:
            raise UnknownServiceError(
                f"Kiln does not serve the service '{target.service}' named in the credential "
                f"scope; it serves {', '.join(sorted(kiln.protocols))}."
            )
        with kiln.database.transaction() as session:
            principal = authenticate(
                session,
                kiln.box,
                request,
                service=target.service,
                regions=kiln.regions,
                now=utcnow(),
            )
        operation, params = protocol.resolve(request)
        problems = validate(operation.input_shape, params) if operation.input_shape else []
        if problems:
            raise protocol.validation_error(problems)
        output = _call(
            kiln,
            protocol,
            operation,
            params,
            target=target,
            request_id=request_id,
            principal=principal,
        )
        response = protocol.serialize(operation, output, request_id=request_id)
    except ServiceError as error:
        response = protocol.serialize_error(error, operation=operation, request_id=request_id)
    except Exception:
        logger.exception("internal error in request %s", request_id)
        internal = ServiceException(f"Kiln hit an internal error; request id {request_id}.")
        response = protocol.serialize_error(internal, operation=operation, request_id=request_id)
    return response, request_id, operation.name if operation is not None else "-"


def _call(
    kiln: Kiln,
    protocol: ProtocolHandler,
    operation: OperationModel,
    params: dict[str, object],
    *,
    target: Target,
    request_id: str,
    principal: Principal,
) -> dict[str, object]:
    registry = kiln.registries.get(protocol.service_name)
    if registry is None or operation.name not in registry.operations:
        plan = registry.planned.get(operation.name, "planned") if registry else "planned"
        raise NotImplementedByKiln(operation.name, plan, code=_unsupported(protocol))
    caller = Caller(principal.account_id, principal.arn, principal.type.value, principal)
    with kiln.database.transaction() as session:
        authorize(
            session,
            principal,
            service=target.service,
            operation=operation,
            params=params,
            region=target.region,
        )
        ctx = RequestContext(
            caller=caller,
            region=target.region,
            request_id=request_id,
            session=session,
            now=utcnow(),
            tokens=kiln.tokens,
            operation=operation.name,
            box=kiln.box,
            objects=kiln.objects,
            data_dir=kiln.data_dir,
            images=kiln.image_stores,
            regions=kiln.regions,
        )
        if target.service == "imagebuilder":
            _seed_region(kiln, session, target.region)
        output = registry.call(ctx, operation, params)
        if target.service == "imagebuilder" and operation.name.startswith(("Create", "Import")):
            ensure_service_linked_role(session, account=ctx.account, now=ctx.now)
    output.setdefault("requestId", request_id)
    return output
