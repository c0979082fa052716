"""Google OAuth access tokens for Vertex AI from `vertex_credentials`, sans-IO.

Why: LiteLLM hands `vertex_credentials` to google-auth; we build the same token calls
ourselves so the pipeline's TokenCache runs and caches them. A service account signs
an RS256 JWT (header `kid` = private_key_id; claims iss/scope/aud/iat/exp) and trades
it at its `token_uri` with the jwt-bearer grant (RFC 7523,
https://developers.google.com/identity/protocols/oauth2/service-account#httprest); an
`authorized_user` file (gcloud ADC) trades its refresh token. Signing uses
`cryptography` directly.

I/O exception: `vertex_credentials` may be a file path, as in LiteLLM. Reading it is
the one piece of I/O here; `VertexAIAdapter` does it once per path and keeps the
parsed JSON, so per-request hooks never touch the disk.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tianji_common.errors import UpstreamError

from tianji_gateway.providers.base import Token, UpstreamCall

__all__ = [
    "JWT_BEARER",
    "SCOPE",
    "credentials_from_value",
    "parse_token",
    "service_account_assertion",
    "token_call",
]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
_LIFETIME = 3600  # seconds; Google's maximum for a self-signed assertion
_FORM = "application/x-www-form-urlencoded"


class _TokenAnswer(msgspec.Struct):
    access_token: str = ""
    expires_in: float = 3600.0


_token_decoder = msgspec.json.Decoder(_TokenAnswer)


def _config_error(message: str) -> UpstreamError:
    return UpstreamError(
        f"vertex_ai credentials: {message}", status=500, retryable=False, type_="auth_error"
    )


def credentials_from_value(value: object) -> dict[str, Any]:
    """Parsed credentials from a dict, a JSON string, or a path to a JSON file."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        raise _config_error("vertex_credentials must be a JSON object, JSON string or path")
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise _config_error(f"cannot read the file {value!r} ({exc.strerror})") from None
    try:
        parsed = json.loads(text)
    except ValueError:
        raise _config_error("vertex_credentials is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _config_error("vertex_credentials must be a JSON object")
    return parsed


def token_call(info: dict[str, Any], now: float) -> UpstreamCall:
    """The token-endpoint request for service-account or authorized-user credentials."""
    kind = info.get("type", "service_account")
    if kind == "service_account":
        form = {"grant_type": JWT_BEARER, "assertion": service_account_assertion(info, now)}
    elif kind == "authorized_user":
        form = {
            "grant_type": "refresh_token",
            "client_id": _field(info, "client_id"),
            "client_secret": _field(info, "client_secret"),
            "refresh_token": _field(info, "refresh_token"),
        }
    else:
        raise _config_error(f"credential type {kind!r} is not supported")
    uri = info.get("token_uri") or _TOKEN_URI
    body = urlencode(form).encode()
    return UpstreamCall("POST", uri, [("content-type", _FORM)], body)


def _field(info: dict[str, Any], name: str) -> str:
    value = info.get(name)
    if not isinstance(value, str) or not value:
        raise _config_error(f"the credentials JSON has no {name!r}")
    return value


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def service_account_assertion(info: dict[str, Any], now: float) -> str:
    """The RS256-signed JWT a service account presents to its token_uri."""
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if info.get("private_key_id"):
        header["kid"] = str(info["private_key_id"])
    issued = int(now)
    claims = {
        "iss": _field(info, "client_email"),
        "scope": SCOPE,
        "aud": info.get("token_uri") or _TOKEN_URI,
        "iat": issued,
        "exp": issued + _LIFETIME,
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = _private_key(info).sign(
        signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
    )
    return signing_input + "." + _b64url(signature)


def _private_key(info: dict[str, Any]) -> rsa.RSAPrivateKey:
    pem = _field(info, "private_key").encode()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise _config_error("private_key is not a PEM-encoded key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _config_error("private_key is not an RSA key")
    return key


def parse_token(status: int, body: bytes, now: float) -> Token:
    """`{"access_token", "expires_in"}` as a Token the pipeline caches until expiry."""
    try:
        answer = _token_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        answer = _TokenAnswer()
    if not answer.access_token:
        raise UpstreamError(
            f"vertex_ai: the token endpoint answered HTTP {status} without an access_token",
            status=502,
            retryable=False,
            type_="auth_error",
        )
    return Token(answer.access_token, now + answer.expires_in)
