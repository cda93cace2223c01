"""What Kiln creates by itself: the first administrator, and the Image Builder service-linked
role that AWS creates in an account when its first Image Builder resource appears."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kiln.auth.secretbox import SecretBox
from kiln.iam import managed_policy_arn
from kiln.services.iam.entities import attach, create_access_key, create_role, create_user
from kiln.store import iam as store

ADMIN_USER = "kiln-admin"
ADMIN_POLICY = managed_policy_arn("AdministratorAccess")
SERVICE_LINKED_ROLE = "AWSServiceRoleForImageBuilder"
SERVICE_LINKED_PATH = "/aws-service-role/imagebuilder.amazonaws.com/"
SERVICE_LINKED_POLICY = managed_policy_arn(
    "AWSServiceRoleForImageBuilder", path="/aws-service-role/"
)
IMAGEBUILDER_SERVICE = "imagebuilder.amazonaws.com"


@dataclass(frozen=True)
class NewCredentials:
    account: str
    user_name: str
    access_key_id: str
    secret_access_key: str


def ensure_administrator(
    session: Session, box: SecretBox, *, account: str, now: dt.datetime
) -> NewCredentials | None:
    """Create the administrator user and its key unless it exists; returns a new key once."""
    if store.entity(session, account=account, kind=store.USER, name=ADMIN_USER) is not None:
        return None
    user = create_user(session, account=account, name=ADMIN_USER, now=now)
    attach(user, ADMIN_POLICY)
    key, secret = create_access_key(session, box, account=account, user_name=ADMIN_USER, now=now)
    return NewCredentials(account, ADMIN_USER, key.access_key_id, secret)


def administrator_key(session: Session, box: SecretBox, *, account: str) -> NewCredentials | None:
    """The administrator's first active key, for `kiln admin credentials`."""
    for key in store.user_credentials(session, account=account, user_name=ADMIN_USER):
        if key.status == "Active":
            return NewCredentials(
                account, ADMIN_USER, key.access_key_id, box.open(key.secret_encrypted)
            )
    return None


def ensure_service_linked_role(session: Session, *, account: str, now: dt.datetime) -> bool:
    """Create AWSServiceRoleForImageBuilder in the account once; True when it was created."""
    if store.entity(session, account=account, kind=store.ROLE, name=SERVICE_LINKED_ROLE):
        return False
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": IMAGEBUILDER_SERVICE},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = create_role(
        session,
        account=account,
        name=SERVICE_LINKED_ROLE,
        trust_policy=json.dumps(trust),
        now=now,
        path=SERVICE_LINKED_PATH,
        service_name=IMAGEBUILDER_SERVICE,
        description="Allows EC2 Image Builder to call AWS services on your behalf.",
    )
    attach(role, SERVICE_LINKED_POLICY)
    return True
