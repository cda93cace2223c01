"""The STS service (query protocol): GetCallerIdentity and AssumeRole (kiln.services.sts.sessions).

Errors:

    ClientError
    ├── AccessDenied                      403: the role does not exist or does not trust the caller
    ├── ValidationError                   400: DurationSeconds beyond what the role allows, ...
    └── MalformedPolicyDocumentError      400
"""

from __future__ import annotations

from kiln.services.dispatch import ServiceRegistry

SCOPE = "Kiln's STS serves GetCallerIdentity and AssumeRole"


def registry() -> ServiceRegistry:
    from kiln.protocol.model import service_model
    from kiln.services.sts import sessions

    names = service_model("sts").operation_names
    return ServiceRegistry.collect("sts", names, (sessions,), planned=dict.fromkeys(names, SCOPE))
