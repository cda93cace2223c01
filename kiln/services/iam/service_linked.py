"""Service-linked roles: CreateServiceLinkedRole, DeleteServiceLinkedRole and
GetServiceLinkedRoleDeletionStatus.

Kiln knows one linked service, Image Builder (AWSServiceRoleForImageBuilder, created through
bootstrap.ensure_service_linked_role, as the server also does when the first Image Builder
resource of an account appears). Deletion happens at once; its task is recorded as an IAM entity
of kind `deletion-task` (name: the task's UUID, arn: the DeletionTaskId) so its status can be
asked for later.
"""

from __future__ import annotations

import uuid
from typing import Any

from kiln.services.context import RequestContext
from kiln.services.iam import bootstrap, ids, lookup, shapes
from kiln.services.iam.errors import InvalidInputException, NoSuchEntityException
from kiln.store import iam as store

DELETION_TASK = "deletion-task"


def create_service_linked_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    service = params["AWSServiceName"]
    if service != bootstrap.IMAGEBUILDER_SERVICE:
        raise InvalidInputException(
            f"Kiln links roles to {bootstrap.IMAGEBUILDER_SERVICE} only; it cannot create a "
            f"service-linked role for {service}."
        )
    if params.get("CustomSuffix"):
        raise InvalidInputException(f"Custom suffix is not allowed for {service}")
    if not bootstrap.ensure_service_linked_role(ctx.session, account=ctx.account, now=ctx.now):
        raise InvalidInputException(
            f"Service role name {bootstrap.SERVICE_LINKED_ROLE} has been taken in this account, "
            "please try a different suffix."
        )
    row = lookup.role(ctx, bootstrap.SERVICE_LINKED_ROLE)
    if params.get("Description"):
        row.body = {**row.body, "description": params["Description"]}
    return {"Role": shapes.role(row)}


def delete_service_linked_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    role = lookup.role(ctx, params["RoleName"])
    service = role.body.get("awsServiceName")
    if not service:
        raise InvalidInputException(f"Role {role.name} is not a service-linked role.")
    task = str(uuid.uuid4())
    task_id = f"task{role.path}{role.name}/{task}"
    store.remove_entity(ctx.session, role)
    store.add_entity(
        ctx.session,
        account=ctx.account,
        kind=DELETION_TASK,
        name=task,
        entity_id=ids.unique_id("TASK"),
        path=role.path,
        arn=task_id,
        body={"status": "SUCCEEDED", "roleName": role.name},
        now=ctx.now,
    )
    return {"DeletionTaskId": task_id}


def get_service_linked_role_deletion_status(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    task_id = params["DeletionTaskId"]
    row = store.entity_by_arn(ctx.session, task_id)
    if row is None or row.kind != DELETION_TASK or row.account != ctx.account:
        raise NoSuchEntityException(f"Deletion task {task_id} cannot be found.")
    return {"Status": row.body["status"]}
