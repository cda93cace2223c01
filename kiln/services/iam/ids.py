"""IAM and STS identifiers: unique ids, access key ids, secrets, session tokens."""

from __future__ import annotations

import secrets
import string

_UPPER = string.ascii_uppercase + string.digits
_SECRET = string.ascii_letters + string.digits + "+/"

USER_PREFIX = "AIDA"
ROLE_PREFIX = "AROA"
POLICY_PREFIX = "ANPA"
INSTANCE_PROFILE_PREFIX = "AIPA"
ACCESS_KEY_PREFIX = "AKIA"
SESSION_KEY_PREFIX = "ASIA"


def unique_id(prefix: str) -> str:
    """`AIDA…`, `AROA…`: prefix + 17 upper-case letters and digits, as IAM forms them."""
    return prefix + "".join(secrets.choice(_UPPER) for _ in range(17))


def access_key_id(prefix: str = ACCESS_KEY_PREFIX) -> str:
    return prefix + "".join(secrets.choice(_UPPER) for _ in range(16))


def secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET) for _ in range(40))


def session_token() -> str:
    return secrets.token_urlsafe(96)
