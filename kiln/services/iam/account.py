"""GetAccountSummary: the account's IAM entity counts and the quotas Kiln enforces."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from kiln.services.context import RequestContext
from kiln.services.iam import attachments, inline, keys, policies, policy_versions, roles
from kiln.store import iam as store
from kiln.store.schema import CredentialRow

# IAM's default quotas (the ones Kiln enforces are taken from the modules that enforce them).
QUOTAS = {
    "UsersQuota": 5000,
    "RolesQuota": 1000,
    "PoliciesQuota": 1500,
    "InstanceProfilesQuota": 1000,
    "GroupsQuota": 300,
    "GroupsPerUserQuota": 10,
    "ServerCertificatesQuota": 20,
    "SigningCertificatesPerUserQuota": 2,
    "AccessKeysPerUserQuota": keys.MAX_KEYS,
    "AttachedPoliciesPerRoleQuota": attachments.MAX_ATTACHED,
    "AttachedPoliciesPerUserQuota": attachments.MAX_ATTACHED,
    "AttachedPoliciesPerGroupQuota": attachments.MAX_ATTACHED,
    "VersionsPerPolicyQuota": policy_versions.MAX_VERSIONS,
    "PolicySizeQuota": policies.MAX_POLICY_SIZE,
    "AssumeRolePolicySizeQuota": roles.TRUST_POLICY_QUOTA,
    "RolePolicySizeQuota": inline.ROLE_QUOTA,
    "UserPolicySizeQuota": inline.USER_QUOTA,
    "GroupPolicySizeQuota": 5120,
}


def get_account_summary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    def count(kind: str) -> int:
        return len(store.entities(ctx.session, account=ctx.account, kind=kind))

    customer = store.entities(ctx.session, account=ctx.account, kind=store.POLICY)
    root_keys = ctx.session.scalar(
        select(func.count())
        .select_from(CredentialRow)
        .where(
            CredentialRow.account == ctx.account,
            CredentialRow.kind == "user",
            CredentialRow.user_name.is_(None),
        )
    )
    summary = {
        "Users": count(store.USER),
        "Roles": count(store.ROLE),
        "Policies": len(customer),
        "PolicyVersionsInUse": sum(len(p.body.get("versions", [])) for p in customer),
        "InstanceProfiles": count(store.INSTANCE_PROFILE),
        "Groups": 0,
        "ServerCertificates": 0,
        "Providers": 0,
        "MFADevices": 0,
        "MFADevicesInUse": 0,
        "AccountMFAEnabled": 0,
        "AccountAccessKeysPresent": 1 if root_keys else 0,
        "AccountPasswordPresent": 0,
        "AccountSigningCertificatesPresent": 0,
        "GlobalEndpointTokenVersion": 1,
        **QUOTAS,
    }
    return {"SummaryMap": summary}
