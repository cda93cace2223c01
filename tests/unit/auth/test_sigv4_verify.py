"""SigV4 verification against botocore as the signer (the oracle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import botocore.session
import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.auth import (
    AuthenticationError,
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
    SignedRequest,
    SigningKeyMaterial,
    auth_error_code,
    verify,
)
from kiln.auth.errors import AuthFailure

AKID = "AKIAKILNTEST00000001"
SECRET = "kiln/secret+key/0123456789abcdefghijklmn"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN//+=="
ENDPOINT = "http://127.0.0.1:8765"
KEY = SigningKeyMaterial(AKID, SECRET)


def lookup(akid: str) -> SigningKeyMaterial | None:
    return KEY if akid == AKID else None


class _Captured(Exception):
    def __init__(self, request: object) -> None:
        self.request = request


def _to_signed(url: str, method: str, headers: object, body: object) -> SignedRequest:
    parts = urlsplit(url)
    pairs = [(str(k), v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()]
    if not any(k.lower() == "host" for k, _ in pairs):
        port = parts.port
        host = parts.hostname or ""
        default = (parts.scheme, port) in (("http", 80), ("https", 443)) or port is None
        pairs.append(("Host", host if default else f"{host}:{port}"))
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = bytes(body)
    return SignedRequest(method, parts.path, parts.query, pairs, data)


def capture(service: str, operation: str, *, token: str | None = None, **params: object):
    """Let a real botocore client serialize and sign a call; return what it would send."""
    session = botocore.session.Session()
    client = session.create_client(
        service,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
    )

    def stop(request, **_):
        raise _Captured(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(_Captured) as info:
        getattr(client, operation)(**params)
    sent = info.value.request
    return _to_signed(sent.url, sent.method, sent.headers, sent.body)


def sign(
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    service: str = "imagebuilder",
    region: str = "us-east-1",
    presign: int | None = None,
    signer: type = SigV4Auth,
    credentials: Credentials | None = None,
) -> SignedRequest:
    url = ENDPOINT + path + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    creds = credentials or Credentials(AKID, SECRET)
    if presign is not None:
        signer(creds, service, region, expires=presign).add_auth(request)
    else:
        signer(creds, service, region).add_auth(request)
    prepared = request.prepare()
    return _to_signed(prepared.url, prepared.method, prepared.headers, prepared.body)


def now() -> datetime:
    return datetime.now(UTC)


def check(request: SignedRequest, **overrides: object):
    kwargs: dict[str, object] = {
        "lookup": lookup,
        "service": "imagebuilder",
        "region": "us-east-1",
        "now": now(),
    }
    kwargs.update(overrides)
    return verify(request, **kwargs)  # type: ignore[arg-type]


COMPONENT_ARN = "arn:aws:imagebuilder:us-east-1:123456789012:component/my comp/1.0.0/1"


# --- real client calls pass -------------------------------------------------------------------


def test_list_tags_for_resource_path_is_double_encoded():
    request = capture("imagebuilder", "list_tags_for_resource", resourceArn=COMPONENT_ARN)
    assert "%3A" in request.path  # the ARN travels percent-encoded in the path
    caller = check(request)
    assert caller.access_key_id == AKID
    assert caller.region == "us-east-1"
    assert caller.service == "imagebuilder"
    assert "host" in caller.signed_headers
    assert caller.session_token is None
    assert not caller.presigned


def test_get_with_query_string():
    request = capture("imagebuilder", "get_component", componentBuildVersionArn=COMPONENT_ARN)
    assert request.method == "GET"
    assert "componentBuildVersionArn=" in request.query
    assert check(request).key is KEY


def test_post_json_body_with_session_token():
    request = capture("imagebuilder", "list_components", token=TOKEN, owner="Self", maxResults=5)
    assert request.body
    caller = check(request)
    assert caller.session_token == TOKEN
    assert caller.payload_signed


def test_iam_form_body():
    request = capture("iam", "get_role", RoleName="EC2InstanceProfileForImageBuilder")
    assert b"Action=GetRole" in request.body
    caller = check(request, service="iam")
    assert caller.service == "iam"


def test_accepts_any_of_several_regions():
    request = capture("imagebuilder", "list_components")
    assert check(request, region=["eu-west-1", "us-east-1"]).region == "us-east-1"


def test_date_header_instead_of_x_amz_date():
    request = sign("GET", "/ListComponents", headers={"Date": "Thu, 01 Jan 2026 00:00:00 GMT"})
    assert request.header("x-amz-date") is None
    assert request.header("date") is not None
    check(request)


def test_presigned_query():
    request = sign(
        "GET",
        "/GetComponent",
        query="componentBuildVersionArn=x",
        presign=300,
        signer=SigV4QueryAuth,
        credentials=Credentials(AKID, SECRET, TOKEN),
    )
    assert request.header("authorization") is None
    caller = check(request)
    assert caller.presigned
    assert caller.session_token == TOKEN
    with pytest.raises(RequestExpired) as info:
        check(request, now=now() + timedelta(seconds=320))
    assert info.value.message == "Request has expired"


def test_presigned_s3_signs_raw_path_and_unsigned_payload():
    path = "/bucket/" + quote("logs/a b+c.txt", safe="/")
    request = sign("GET", path, service="s3", presign=60, signer=S3SigV4QueryAuth)
    caller = check(request, service="s3")
    assert not caller.payload_signed


def test_unsigned_payload_header():
    request = sign(
        "PUT",
        "/b/k",
        body=b"data",
        service="s3",
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    check(request, service="s3")
    with pytest.raises(IncompleteSignature):
        check(request, service="s3", allow_unsigned_payload=False)


# --- tampering is refused with AWS's codes -----------------------------------------------------


@pytest.fixture
def signed() -> SignedRequest:
    return capture("imagebuilder", "list_components", owner="Self")


def _replace_header(request: SignedRequest, name: str, value: str | None) -> SignedRequest:
    headers = [(k, v) for k, v in request.headers if k != name]
    if value is not None:
        headers.append((name, value))
    return SignedRequest(request.method, request.path, request.query, headers, request.body)


def test_wrong_secret(signed):
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(signed, lookup=lambda _: SigningKeyMaterial(AKID, "other"))
    err = info.value
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)
    assert err.canonical_request is not None and "/ListComponents" in err.canonical_request
    rendered = err.for_protocol("rest-json")
    assert (rendered.code, rendered.status) == ("InvalidSignatureException", 403)


def test_tampered_body(signed):
    tampered = SignedRequest(
        signed.method, signed.path, signed.query, signed.headers, signed.body + b" "
    )
    with pytest.raises(SignatureDoesNotMatch):
        check(tampered)


def test_tampered_signed_header(signed):
    with pytest.raises(SignatureDoesNotMatch):
        check(_replace_header(signed, "content-type", "text/plain"))


def test_tampered_path_and_method(signed):
    for tampered in (
        SignedRequest("PUT", signed.path, signed.query, signed.headers, signed.body),
        SignedRequest(signed.method, "/ListImages", signed.query, signed.headers, signed.body),
    ):
        with pytest.raises(SignatureDoesNotMatch):
            check(tampered)


def test_unknown_access_key(signed):
    with pytest.raises(InvalidClientTokenId) as info:
        check(signed, lookup=lambda _: None)
    assert (info.value.code, info.value.status) == ("InvalidClientTokenId", 403)
    assert info.value.message == "The security token included in the request is invalid."
    assert auth_error_code(AuthFailure.UNKNOWN_ACCESS_KEY, "rest-json") == (
        "UnrecognizedClientException",
        403,
    )
    assert info.value.for_protocol("json").code == "UnrecognizedClientException"


def test_expired(signed):
    later = now() + timedelta(minutes=16)
    with pytest.raises(RequestExpired) as info:
        check(signed, now=later)
    err = info.value
    assert err.message.startswith("Signature expired: ")
    assert "is now earlier than" in err.message and err.message.endswith("- 15 min.)")
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)
    assert (err.for_protocol("rest-json").code, err.for_protocol("rest-json").status) == (
        "InvalidSignatureException",
        403,
    )
    assert err.for_protocol("ec2").code == "RequestExpired"


def test_within_skew_window_passes(signed):
    check(signed, now=now() + timedelta(minutes=14))
    check(signed, now=now() - timedelta(minutes=14))


def test_not_yet_current(signed):
    with pytest.raises(RequestExpired) as info:
        check(signed, now=now() - timedelta(minutes=16))
    assert info.value.message.startswith("Signature not yet current: ")


def test_wrong_region(signed):
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(signed, region="eu-west-1")
    assert info.value.message == "Credential should be scoped to a valid region, not 'us-east-1'."


def test_wrong_service(signed):
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(signed, service="iam")
    assert info.value.message == "Credential should be scoped to correct service: 'iam'."


def test_missing_authentication(signed):
    bare = _replace_header(signed, "authorization", None)
    with pytest.raises(MissingAuthenticationToken) as info:
        check(bare)
    assert (info.value.code, info.value.status) == ("MissingAuthenticationToken", 403)
    rendered = info.value.for_protocol("rest-json")
    assert (rendered.code, rendered.status, rendered.message) == (
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
    )


def test_missing_date_header(signed):
    with pytest.raises(IncompleteSignature) as info:
        check(_replace_header(signed, "x-amz-date", None))
    assert "either a 'X-Amz-Date' or a 'Date' header" in info.value.message
    assert (info.value.code, info.value.status) == ("IncompleteSignature", 400)
    assert info.value.for_protocol("json").code == "IncompleteSignatureException"


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/imagebuilder/aws4_request",
            "requires 'Signature' parameter",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a b, SignedHeaders=host, Signature=00",
            "not a valid key=value pair",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID, SignedHeaders=host, Signature=00",
            "5 slash-delimited elements",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/imagebuilder/aws4_request, "
            "SignedHeaders=x-amz-date, Signature=00",
            "'Host' or ':authority'",
        ),
        ("AWS AKID:signature", "Unsupported AWS 'algorithm'"),
        ("Bearer abc", "Unsupported AWS 'algorithm'"),
    ],
)
def test_malformed_authorization(signed, header, fragment):
    with pytest.raises(IncompleteSignature) as info:
        check(_replace_header(signed, "authorization", header))
    assert fragment in info.value.message


def test_content_sha256_must_match_body():
    request = sign(
        "POST", "/CreateComponent", body=b"{}", headers={"X-Amz-Content-SHA256": "0" * 64}
    )
    with pytest.raises(SignatureDoesNotMatch):
        check(request)


# --- property: whatever botocore signs verifies, and any one-byte change fails -----------------

_segment = st.text(min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
_params = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=4)


@st.composite
def requests(draw):
    segments = draw(st.lists(_segment, min_size=1, max_size=4))
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    query = percent_encode_sequence(draw(_params))
    body = draw(st.binary(max_size=64))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    header = draw(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=16)
    )
    return sign(method, path, query=query, body=body, headers={"X-Kiln-Probe": header})


def _flip(text: str, index: int) -> str:
    index %= len(text)
    replacement = "Z" if text[index] != "Z" else "Y"
    return text[:index] + replacement + text[index + 1 :]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests(),
    st.sampled_from(["path", "query", "body", "header", "signature"]),
    st.integers(min_value=0, max_value=10_000),
)
def test_botocore_signed_requests_verify_and_any_flip_fails(request, part, index):
    check(request)
    if part == "path":
        tampered = SignedRequest(
            request.method, _flip(request.path, index), request.query, request.headers, request.body
        )
    elif part == "query":
        if not request.query:
            return
        tampered = SignedRequest(
            request.method, request.path, _flip(request.query, index), request.headers, request.body
        )
    elif part == "body":
        if not request.body:
            return
        i = index % len(request.body)
        body = bytearray(request.body)
        body[i] ^= 0x01
        tampered = SignedRequest(
            request.method, request.path, request.query, request.headers, bytes(body)
        )
    elif part == "header":
        tampered = _replace_header(
            request, "x-kiln-probe", _flip(request.header("x-kiln-probe") or "", index)
        )
    else:
        auth = request.header("authorization") or ""
        sig_start = auth.index("Signature=") + len("Signature=")
        sig = auth[sig_start:]
        flipped = _flip(sig, index).lower()
        if flipped == sig:
            flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        tampered = _replace_header(request, "authorization", auth[:sig_start] + flipped)
    with pytest.raises(AuthenticationError):
        check(tampered)
