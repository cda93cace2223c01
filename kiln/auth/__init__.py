"""Authentication: SigV4 verification of incoming requests.

Errors (all ClientError; render per protocol with `AuthenticationError.for_protocol`):
MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId, SignatureDoesNotMatch,
RequestExpired. See `kiln.auth.errors` for the code each protocol answers with.
"""

from kiln.auth.errors import (
    AuthenticationError,
    AuthFailure,
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
    WireProtocol,
    auth_error_code,
)
from kiln.auth.sigv4 import SignedRequest, SigningKeyMaterial, VerifiedCaller, verify

__all__ = [
    "AuthFailure",
    "AuthenticationError",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "SignedRequest",
    "SigningKeyMaterial",
    "VerifiedCaller",
    "WireProtocol",
    "auth_error_code",
    "verify",
]
