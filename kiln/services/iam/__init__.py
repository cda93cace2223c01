"""The IAM service (query protocol) and the identity functions the rest of Kiln uses:
who a credential belongs to, which policies apply to a principal, the bootstrap administrator
and the Image Builder service-linked role.

Operations, one module per noun: users, keys (access keys), roles, service_linked,
instance_profiles, policies and policy_versions (managed policies), attachments, inline
(embedded policies), boundaries (permissions boundaries), tags, simulate, account
(GetAccountSummary).
Errors: kiln.services.iam.errors.
"""

from __future__ import annotations

from kiln.services.dispatch import ServiceRegistry

SCOPE = (
    "Kiln's IAM covers what Image Builder users need: users, access keys, roles, instance "
    "profiles, managed and inline policies, permissions boundaries, tags, service-linked roles, "
    "SimulatePrincipalPolicy and GetAccountSummary"
)


def registry() -> ServiceRegistry:
    from kiln.protocol.model import service_model
    from kiln.services.iam import (
        account,
        attachments,
        boundaries,
        inline,
        instance_profiles,
        keys,
        policies,
        policy_versions,
        roles,
        service_linked,
        simulate,
        tags,
        users,
    )

    names = service_model("iam").operation_names
    modules = (
        users,
        keys,
        roles,
        service_linked,
        instance_profiles,
        policies,
        policy_versions,
        attachments,
        inline,
        tags,
        simulate,
        boundaries,
        account,
    )
    return ServiceRegistry.collect("iam", names, modules, planned=dict.fromkeys(names, SCOPE))
