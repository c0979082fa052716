"""AWS Signature Version 4, written with hashlib and hmac (no botocore).

Why our own: the signing hook must be sans-IO and cheap, and botocore is a heavy
dependency for four HMACs. The algorithm follows
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
and is checked against AWS's published test-suite vectors. Every service except S3
URI-encodes the path twice: the path as sent is already encoded once, and the canonical
URI encodes it again (botocore's `SigV4Auth._normalize_url_path`), so we always sign
the path exactly as it goes on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ALGORITHM",
    "AwsCredentials",
    "amz_date",
    "canonical_request",
    "sign_headers",
    "signature",
    "signing_key",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
# Headers never signed: proxies and clients may rewrite or add them (botocore's
# SIGNED_HEADERS_BLACKLIST, plus the ones our transport sets after signing).
_UNSIGNED = frozenset(
    {
        "authorization",
        "expect",
        "transfer-encoding",
        "user-agent",
        "x-amzn-trace-id",
        "accept-encoding",
        "connection",
        "content-length",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key pair, plus the session token of temporary credentials."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


def amz_date(now: float) -> str:
    """`YYYYMMDD'T'HHMMSS'Z'` in UTC, the X-Amz-Date format."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _host(url: str) -> str:
    """The Host header value: lowercase host, with the port only when not the default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return host


def _canonical_uri(path: str) -> str:
    """Encode the on-the-wire path once more: `%3A` becomes `%253A` (non-S3 rule)."""
    return quote(path or "/", safe="/~")


def _canonical_query(query: str) -> str:
    """Each name and value URI-encoded (unreserved kept), sorted by name then value."""
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _canonical_headers(headers: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """Lowercase names, trimmed values with inner whitespace collapsed, sorted."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        key = name.strip().lower()
        if key in _UNSIGNED:
            continue
        grouped.setdefault(key, []).append(" ".join(value.split()))
    names = sorted(grouped)
    lines = "".join(f"{k}:{','.join(grouped[k])}\n" for k in names)
    return lines, ";".join(names)


def canonical_request(
    method: str, url: str, headers: Sequence[tuple[str, str]], payload_hash: str
) -> tuple[str, str]:
    """The canonical request and its SignedHeaders list (every signable header given)."""
    parts = urlsplit(url)
    header_lines, signed = _canonical_headers(headers)
    creq = "\n".join(
        [
            method.upper(),
            _canonical_uri(parts.path),
            _canonical_query(parts.query),
            header_lines,
            signed,
            payload_hash,
        ]
    )
    return creq, signed


def string_to_sign(request_date: str, scope: str, creq: str) -> str:
    """Algorithm, date, credential scope and the canonical request's SHA-256."""
    digest = hashlib.sha256(creq.encode()).hexdigest()
    return f"{ALGORITHM}\n{request_date}\n{scope}\n{digest}"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, datestamp: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service and `aws4_request`."""
    k_date = _hmac(("AWS4" + secret).encode(), datestamp)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def signature(key: bytes, sts: str) -> str:
    """Hex HMAC-SHA256 of the string to sign."""
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def sign_headers(
    *,
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    creds: AwsCredentials,
    region: str,
    service: str,
    now: float,
) -> list[tuple[str, str]]:
    """`headers` plus host, x-amz-date, x-amz-security-token and Authorization.

    Host is set explicitly so the value on the wire is the value signed; any stale
    auth headers in `headers` are replaced.
    """
    replaced = {"host", "x-amz-date", "x-amz-security-token", "authorization"}
    out = [(k, v) for k, v in headers if k.lower() not in replaced]
    request_date = amz_date(now)
    out.append(("host", _host(url)))
    out.append(("x-amz-date", request_date))
    if creds.session_token:
        out.append(("x-amz-security-token", creds.session_token))
    creq, signed = canonical_request(method, url, out, hashlib.sha256(body).hexdigest())
    scope = f"{request_date[:8]}/{region}/{service}/aws4_request"
    key = signing_key(creds.secret_access_key, request_date[:8], region, service)
    sig = signature(key, string_to_sign(request_date, scope, creq))
    out.append(
        (
            "authorization",
            f"{ALGORITHM} Credential={creds.access_key_id}/{scope}, "
            f"SignedHeaders={signed}, Signature={sig}",
        )
    )
    return out
