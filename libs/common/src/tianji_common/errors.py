"""Error types rendered as OpenAI-shaped bodies.

Why: every service answers errors in one shape (`{"error": {message, type, param,
code}}`), as LiteLLM and OpenAI do, so client SDKs map them to their own exception
classes. Status, type and code are class attributes, mapped once, by type.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

__all__ = [
    "AuthError",
    "BudgetExceeded",
    "ContentPolicyViolation",
    "ContextWindowExceeded",
    "ErrorBody",
    "ErrorDetail",
    "GatewayError",
    "InvalidRequest",
    "NotFound",
    "NotImplementedFeature",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ServiceUnavailable",
    "UpstreamError",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "encode_error",
]


class ErrorDetail(msgspec.Struct, kw_only=True):
    """The inner object of an OpenAI error body; every key is always present."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(msgspec.Struct, kw_only=True):
    """`{"error": {...}}` as OpenAI and LiteLLM send it."""

    error: ErrorDetail


class GatewayError(Exception):
    """Base of every error we answer with; subclasses set the class attributes."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_server_error"
    code: ClassVar[str | None] = None
    should_retry: ClassVar[bool | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.instance_code = code
        self.instance_status = status
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def http_status(self) -> int:
        """The status this instance answers with (an upstream's, when relayed)."""
        return self.instance_status or self.status

    def body(self) -> ErrorBody:
        """The OpenAI-shaped body."""
        code = self.instance_code or self.code or str(self.http_status)
        return ErrorBody(
            error=ErrorDetail(message=self.message, type=self.type, param=self.param, code=code)
        )

    def response_headers(self) -> dict[str, str]:
        """Headers to send with the error, including the SDK retry hint."""
        headers = dict(self.headers)
        if self.should_retry is False:
            headers["x-should-retry"] = "false"
        return headers


class InvalidRequest(GatewayError):
    """A request the caller must fix (400)."""

    status = 400
    type = "invalid_request_error"


class AuthError(GatewayError):
    """Missing or wrong credentials (401)."""

    status = 401
    type = "auth_error"  # LiteLLM's ProxyException type for 401s
    should_retry = False


class PermissionDenied(GatewayError):
    """Valid credentials without the right (403)."""

    status = 403
    type = "permission_error"
    should_retry = False


class NotFound(GatewayError):
    """No such entity or model (404)."""

    status = 404
    type = "not_found_error"


class PayloadTooLarge(GatewayError):
    """The request body is over the configured limit (413)."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    should_retry = False


class RateLimited(GatewayError):
    """A real rate limit: the caller may retry after `Retry-After` (429)."""

    status = 429
    type = "rate_limit_error"


class BudgetExceeded(GatewayError):
    """Spend is over budget; retrying cannot help (429)."""

    status = 429
    type = "budget_exceeded"
    code = "budget_exceeded"
    should_retry = False


class NotImplementedFeature(GatewayError):
    """A LiteLLM feature TianjiLLM does not serve yet (501)."""

    status = 501
    type = "not_implemented_error"
    code = "not_implemented"
    should_retry = False


class ServiceUnavailable(GatewayError):
    """The service is shutting down or not ready (503)."""

    status = 503
    type = "service_unavailable"


class UpstreamError(GatewayError):
    """The provider failed; `retryable` tells the router whether to try again."""

    status = 502
    type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        type_: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, status=status, headers=headers)
        self.retryable = retryable
        self.instance_type = type_

    def body(self) -> ErrorBody:
        """Keep the vendor's error type when it gave one."""
        body = super().body()
        if self.instance_type:
            body.error.type = self.instance_type
        return body


class UpstreamRateLimited(UpstreamError):
    """The provider rate-limited us (429); retryable, with its `Retry-After` kept."""

    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, **kw: object) -> None:
        kw.setdefault("retryable", True)
        super().__init__(message, **kw)  # type: ignore[arg-type]  # same keywords as UpstreamError


class ContextWindowExceeded(UpstreamError):
    """The prompt is too long for the model (LiteLLM's ContextWindowExceededError).

    Context-window fallbacks key on this class, never on message text.
    """

    status = 400
    type = "invalid_request_error"
    code = "context_length_exceeded"


class ContentPolicyViolation(UpstreamError):
    """The provider refused on content policy (LiteLLM's ContentPolicyViolationError)."""

    status = 400
    type = "invalid_request_error"
    code = "content_policy_violation"


class UpstreamTimeout(UpstreamError):
    """The provider did not answer in time (504 unless relayed)."""

    status = 504
    type = "timeout"


_encoder = msgspec.json.Encoder()


def encode_error(err: GatewayError) -> bytes:
    """Serialize an error body once, with the module-level encoder."""
    return _encoder.encode(err.body())
