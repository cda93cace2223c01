"""Authentication failures and the AWS error code each protocol answers them with.

    ClientError
    └── AuthenticationError          `failure` says what went wrong; `code`/`status` are the
        ├── MissingAuthenticationToken   query-protocol answer (IAM/STS). Render another
        ├── IncompleteSignature          protocol's answer with `for_protocol("rest-json")`.
        ├── InvalidClientTokenId
        ├── SignatureDoesNotMatch
        └── RequestExpired

Codes by protocol (`botocore` metadata names). Sources: AWS "Common Errors" API reference pages
(IncompleteSignature 400, InvalidClientTokenId 403, MissingAuthenticationToken 403,
RequestExpired 400; rest-json services list IncompleteSignature as 403) and answers users report
from real endpoints: query services (STS, IAM, SNS) answer an expired or skewed signature with
`SignatureDoesNotMatch` "Signature expired: ... is now earlier than ... (... - 15 min.)", not
RequestExpired; JSON services answer `InvalidSignatureException` (awsJson 400, rest-json 403),
unknown keys `UnrecognizedClientException`, a missing token
`MissingAuthenticationTokenException`. EC2 answers `AuthFailure` (401) for a bad key or signature
and `RequestExpired` (400) for time. rest-xml follows S3's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from kiln.core.errors import ClientError


class AuthFailure(StrEnum):
    MISSING_TOKEN = "missing-token"
    INCOMPLETE_SIGNATURE = "incomplete-signature"
    UNKNOWN_ACCESS_KEY = "unknown-access-key"
    SIGNATURE_MISMATCH = "signature-mismatch"
    EXPIRED = "expired"


class WireProtocol(StrEnum):
    QUERY = "query"
    EC2 = "ec2"
    JSON = "json"
    REST_JSON = "rest-json"
    REST_XML = "rest-xml"


_F = AuthFailure
_P = WireProtocol
CODES: Mapping[tuple[AuthFailure, WireProtocol], tuple[str, int]] = {
    (_F.MISSING_TOKEN, _P.QUERY): ("MissingAuthenticationToken", 403),
    (_F.MISSING_TOKEN, _P.EC2): ("MissingAuthenticationToken", 401),
    (_F.MISSING_TOKEN, _P.JSON): ("MissingAuthenticationTokenException", 400),
    (_F.MISSING_TOKEN, _P.REST_JSON): ("MissingAuthenticationTokenException", 403),
    (_F.MISSING_TOKEN, _P.REST_XML): ("AccessDenied", 403),
    (_F.INCOMPLETE_SIGNATURE, _P.QUERY): ("IncompleteSignature", 400),
    (_F.INCOMPLETE_SIGNATURE, _P.EC2): ("IncompleteSignature", 400),
    (_F.INCOMPLETE_SIGNATURE, _P.JSON): ("IncompleteSignatureException", 400),
    (_F.INCOMPLETE_SIGNATURE, _P.REST_JSON): ("IncompleteSignatureException", 403),
    (_F.INCOMPLETE_SIGNATURE, _P.REST_XML): ("AuthorizationHeaderMalformed", 400),
    (_F.UNKNOWN_ACCESS_KEY, _P.QUERY): ("InvalidClientTokenId", 403),
    (_F.UNKNOWN_ACCESS_KEY, _P.EC2): ("AuthFailure", 401),
    (_F.UNKNOWN_ACCESS_KEY, _P.JSON): ("UnrecognizedClientException", 400),
    (_F.UNKNOWN_ACCESS_KEY, _P.REST_JSON): ("UnrecognizedClientException", 403),
    (_F.UNKNOWN_ACCESS_KEY, _P.REST_XML): ("InvalidAccessKeyId", 403),
    (_F.SIGNATURE_MISMATCH, _P.QUERY): ("SignatureDoesNotMatch", 403),
    (_F.SIGNATURE_MISMATCH, _P.EC2): ("AuthFailure", 401),
    (_F.SIGNATURE_MISMATCH, _P.JSON): ("InvalidSignatureException", 400),
    (_F.SIGNATURE_MISMATCH, _P.REST_JSON): ("InvalidSignatureException", 403),
    (_F.SIGNATURE_MISMATCH, _P.REST_XML): ("SignatureDoesNotMatch", 403),
    (_F.EXPIRED, _P.QUERY): ("SignatureDoesNotMatch", 403),
    (_F.EXPIRED, _P.EC2): ("RequestExpired", 400),
    (_F.EXPIRED, _P.JSON): ("InvalidSignatureException", 400),
    (_F.EXPIRED, _P.REST_JSON): ("InvalidSignatureException", 403),
    (_F.EXPIRED, _P.REST_XML): ("AccessDenied", 403),
}

_MESSAGES: Mapping[tuple[AuthFailure, WireProtocol], str] = {
    (_F.MISSING_TOKEN, _P.REST_JSON): "Missing Authentication Token",
    (_F.UNKNOWN_ACCESS_KEY, _P.EC2): "AWS was not able to validate the provided access credentials",
    (_F.SIGNATURE_MISMATCH, _P.EC2): (
        "AWS was not able to validate the provided access credentials"
    ),
}


def auth_error_code(failure: AuthFailure, protocol: str) -> tuple[str, int]:
    """(AWS error code, HTTP status) for a failure under a protocol (`query`, `rest-json`, ...)."""
    return CODES[(failure, WireProtocol(protocol))]


class AuthenticationError(ClientError):
    """The request could not be authenticated."""

    failure: AuthFailure = AuthFailure.SIGNATURE_MISMATCH

    def __init__(self, message: str) -> None:
        code, status = CODES[(self.failure, WireProtocol.QUERY)]
        super().__init__(message, code=code, status=status)
        self.canonical_request: str | None = None
        self.string_to_sign: str | None = None

    def for_protocol(self, protocol: str) -> ClientError:
        """The same failure as the service speaking `protocol` reports it."""
        wire = WireProtocol(protocol)
        code, status = CODES[(self.failure, wire)]
        return ClientError(
            _MESSAGES.get((self.failure, wire), self.message), code=code, status=status
        )


class MissingAuthenticationToken(AuthenticationError):
    failure = AuthFailure.MISSING_TOKEN


class IncompleteSignature(AuthenticationError):
    failure = AuthFailure.INCOMPLETE_SIGNATURE


class InvalidClientTokenId(AuthenticationError):
    failure = AuthFailure.UNKNOWN_ACCESS_KEY


class SignatureDoesNotMatch(AuthenticationError):
    failure = AuthFailure.SIGNATURE_MISMATCH


class RequestExpired(AuthenticationError):
    failure = AuthFailure.EXPIRED
