"""AWS Signature Version 4, server side: recompute the signature and compare in constant time.

Both forms are accepted: the `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
Signature=...` header, and the presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`,
`X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`,
`X-Amz-Security-Token`). The canonical request is built as `botocore.auth.SigV4Auth` builds it:
- CanonicalURI: the raw wire path (still percent-encoded) with dot segments and empty segments
  removed and then percent-encoded AGAIN (`quote(path, safe='/~')`); S3 signs the raw path;
- CanonicalQueryString: the raw `key=value` pairs sorted as they are (botocore), and, when that
  does not verify, the pairs decoded and re-encoded per RFC 3986 (other SDKs normalise);
- CanonicalHeaders: the signed headers, lower-cased, values trimmed and inner runs of spaces
  collapsed, repeated headers joined with `,`;
- payload: `x-amz-content-sha256` when sent (a hex hash must match the body), else the body's
  SHA-256; presigned S3 URLs sign `UNSIGNED-PAYLOAD`.
The timestamp must be within `max_skew` (15 minutes) of `now`; a presigned URL is valid until
X-Amz-Date + X-Amz-Expires. Failures raise the typed errors of `kiln.auth.errors`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from kiln.auth.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
)

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_UNSIGNED = frozenset({UNSIGNED_PAYLOAD, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_EXPIRES = 604800
_QUERY_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def _header_pairs(headers: Headers) -> tuple[tuple[str, str], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((name.lower(), value) for name, value in items)


@dataclass(frozen=True, init=False)
class SignedRequest:
    """An HTTP request as received: raw (percent-encoded) path, raw query string, headers."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def __init__(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Headers = (),
        body: bytes = b"",
    ) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "query", query.removeprefix("?"))
        object.__setattr__(self, "headers", _header_pairs(headers))
        object.__setattr__(self, "body", body)

    def header_values(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key == lowered]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return ",".join(values) if values else None

    def query_pairs(self) -> list[tuple[str, str]]:
        """The raw pairs, split as botocore splits them (no decoding)."""
        if not self.query:
            return []
        return [(k, v) for k, _, v in (p.partition("=") for p in self.query.split("&"))]

    def query_param(self, name: str) -> str | None:
        for key, value in self.query_pairs():
            if unquote(key) == name:
                return unquote(value)
        return None


@dataclass(frozen=True)
class SigningKeyMaterial:
    """A credential the server knows. Subclass to carry the owner (user, role session, ...)."""

    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class VerifiedCaller:
    key: SigningKeyMaterial
    region: str
    service: str
    signed_at: datetime
    signed_headers: tuple[str, ...]
    session_token: str | None = None
    """X-Amz-Security-Token as sent: check it against the session that owns `key`."""
    presigned: bool = False
    payload_signed: bool = True

    @property
    def access_key_id(self) -> str:
        return self.key.access_key_id


@dataclass(frozen=True)
class _Auth:
    credential: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    presigned: bool
    expires: int | None
    session_token: str | None


def verify(
    request: SignedRequest,
    *,
    lookup: Callable[[str], SigningKeyMaterial | None],
    service: str,
    region: str | Collection[str],
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
    allow_unsigned_payload: bool | None = None,
) -> VerifiedCaller:
    """Authenticate `request` or raise an AuthenticationError subclass.

    `region` is the region (or regions) the server answers for; `allow_unsigned_payload`
    defaults to True for S3 only.
    """
    auth = _parse(request)
    signed_at = _parse_timestamp(auth.timestamp)
    access_key, scope_date, scope_region, scope_service = _check_scope(
        auth, service=service, region=region
    )
    _check_window(auth, signed_at, now=now, max_skew=max_skew)
    key = lookup(access_key)
    if key is None:
        raise InvalidClientTokenId("The security token included in the request is invalid.")
    unsigned_ok = service == "s3" if allow_unsigned_payload is None else allow_unsigned_payload
    payload = _payload_hash(request, auth, service=service, unsigned_ok=unsigned_ok)
    scope = f"{scope_date}/{scope_region}/{scope_service}/{TERMINATOR}"
    signing_key = derive_signing_key(key.secret_access_key, scope_date, scope_region, scope_service)
    provided = auth.signature.encode("ascii", "replace")
    first: tuple[str, str] | None = None
    for query in _query_candidates(request, presigned=auth.presigned):
        canonical = canonical_request(
            request,
            signed_headers=auth.signed_headers,
            canonical_query=query,
            payload_hash=payload,
            double_encode=service != "s3",
        )
        to_sign = string_to_sign(canonical, timestamp=auth.timestamp, scope=scope)
        expected = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode(), provided):
            return VerifiedCaller(
                key=key,
                region=scope_region,
                service=scope_service,
                signed_at=signed_at,
                signed_headers=auth.signed_headers,
                session_token=auth.session_token,
                presigned=auth.presigned,
                payload_signed=payload not in _UNSIGNED,
            )
        first = first or (canonical, to_sign)
    error = SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )
    if first is not None:
        error.canonical_request, error.string_to_sign = first
    raise error


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_uri(raw_path: str, *, double_encode: bool = True) -> str:
    if not double_encode:
        return raw_path or "/"
    return quote(_remove_dot_segments(raw_path) if raw_path else "/", safe="/~")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_request(
    request: SignedRequest,
    *,
    signed_headers: Iterable[str],
    canonical_query: str,
    payload_hash: str,
    double_encode: bool = True,
) -> str:
    names = sorted(set(signed_headers))
    header_lines = "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in request.header_values(name))}\n"
        for name in names
    )
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.path, double_encode=double_encode),
            canonical_query,
            header_lines,
            ";".join(names),
            payload_hash,
        ]
    )


def string_to_sign(canonical: str, *, timestamp: str, scope: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def _query_candidates(request: SignedRequest, *, presigned: bool) -> list[str]:
    pairs = request.query_pairs()
    if presigned:
        pairs = [(k, v) for k, v in pairs if unquote(k) != "X-Amz-Signature"]
    raw = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    normalized = "&".join(
        f"{k}={v}"
        for k, v in sorted(
            (quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")) for k, v in pairs
        )
    )
    return [raw] if normalized == raw else [raw, normalized]


def _parse(request: SignedRequest) -> _Auth:
    header = request.header("authorization")
    if header is not None:
        return _parse_header(request, header)
    if any(request.query_param(name) is not None for name in _QUERY_PARAMS[:3]):
        return _parse_query(request)
    raise MissingAuthenticationToken("Request is missing Authentication Token")


def _parse_header(request: SignedRequest, header: str) -> _Auth:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    fields: dict[str, str] = {}
    for part in re.split(r"[,\s]+", rest):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise IncompleteSignature(
                f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization "
                f"header: '{header}'."
            )
        fields[name.strip()] = value.strip()
    timestamp = _header_timestamp(request)
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    if timestamp is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems or timestamp is None:
        raise IncompleteSignature(" ".join([*problems, f"Authorization={header}"]))
    return _Auth(
        credential=fields["Credential"],
        signed_headers=_signed_headers(fields["SignedHeaders"]),
        signature=fields["Signature"],
        timestamp=timestamp,
        presigned=False,
        expires=None,
        session_token=request.header("x-amz-security-token"),
    )


def _header_timestamp(request: SignedRequest) -> str | None:
    amz_date = request.header("x-amz-date")
    if amz_date is not None:
        return amz_date.strip()
    date = request.header("date")
    if date is None:
        return None
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError) as exc:
        raise IncompleteSignature(f"Date header is not a valid HTTP date: '{date}'.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _parse_query(request: SignedRequest) -> _Auth:
    values = {name: request.query_param(name) for name in _QUERY_PARAMS}
    if any(not v for v in values.values()):
        raise IncompleteSignature(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters."
        )
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{values['X-Amz-Algorithm']}'.")
    expires_text = values["X-Amz-Expires"] or ""
    if not expires_text.isdigit():
        raise IncompleteSignature("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires > _MAX_EXPIRES:
        raise IncompleteSignature(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    return _Auth(
        credential=values["X-Amz-Credential"] or "",
        signed_headers=_signed_headers(values["X-Amz-SignedHeaders"] or ""),
        signature=values["X-Amz-Signature"] or "",
        timestamp=values["X-Amz-Date"] or "",
        presigned=True,
        expires=expires,
        session_token=request.query_param("X-Amz-Security-Token"),
    )


def _signed_headers(text: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in text.split(";") if n.strip())
    if "host" not in names and ":authority" not in names:
        raise IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return names


def _check_scope(
    auth: _Auth, *, service: str, region: str | Collection[str]
) -> tuple[str, str, str, str]:
    parts = auth.credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignature(
            f"Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{auth.credential}'"
        )
    access_key, date, scope_region, scope_service, terminator = parts
    if terminator != TERMINATOR:
        raise SignatureDoesNotMatch(
            f"Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not '{terminator}'."
        )
    if date != auth.timestamp[:8]:
        raise SignatureDoesNotMatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{auth.timestamp[:8]}', from '{auth.timestamp}'."
        )
    regions = {region} if isinstance(region, str) else set(region)
    if scope_region not in regions:
        raise SignatureDoesNotMatch(
            f"Credential should be scoped to a valid region, not '{scope_region}'."
        )
    if scope_service != service:
        raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{service}'.")
    return access_key, date, scope_region, scope_service


def _parse_timestamp(timestamp: str) -> datetime:
    try:
        return datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise IncompleteSignature(
            f"Date must be in ISO-8601 'basic format'. Got '{timestamp}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        ) from exc


def _check_window(auth: _Auth, signed_at: datetime, *, now: datetime, max_skew: timedelta) -> None:
    now = now.astimezone(UTC)
    stamp = TIMESTAMP_FORMAT
    minutes = int(max_skew.total_seconds() // 60)
    if auth.expires is not None and now > signed_at + timedelta(seconds=auth.expires):
        raise RequestExpired("Request has expired")
    if auth.expires is None and now - signed_at > max_skew:
        raise RequestExpired(
            f"Signature expired: {auth.timestamp} is now earlier than "
            f"{(now - max_skew).strftime(stamp)} ({now.strftime(stamp)} - {minutes} min.)"
        )
    if signed_at - now > max_skew:
        raise RequestExpired(
            f"Signature not yet current: {auth.timestamp} is still later than "
            f"{(now + max_skew).strftime(stamp)} ({now.strftime(stamp)} + {minutes} min.)"
        )


def _payload_hash(request: SignedRequest, auth: _Auth, *, service: str, unsigned_ok: bool) -> str:
    declared = request.header("x-amz-content-sha256")
    if declared is None:
        if auth.presigned and service == "s3":
            return UNSIGNED_PAYLOAD
        return hashlib.sha256(request.body).hexdigest()
    if declared in _UNSIGNED:
        if not unsigned_ok:
            raise IncompleteSignature(
                f"This service does not accept x-amz-content-sha256 {declared}."
            )
        return declared
    if not _HEX_SHA256.fullmatch(declared):
        raise IncompleteSignature(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "or a valid sha256 value."
        )
    if not hmac.compare_digest(declared, hashlib.sha256(request.body).hexdigest()):
        raise SignatureDoesNotMatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    return declared
