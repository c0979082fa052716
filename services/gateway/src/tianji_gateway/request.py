"""Decoding the client's body once, as `dict[str, Raw]` plus the few fields we read.

Why not a Struct for the whole request: on re-encode msgspec drops every field it was
not told about (msgspec issue #490), and we must forward unknown parameters untouched.
`messages` is never parsed on the OpenAI pass-through path. multipart/form-data bodies
(audio transcriptions) take the same shape through `request_multipart`.

A JSON body without `model` is admitted: an end user's `default_model` (the policy
guard, `policy.guard`) may fill it in, as in LiteLLM. Until something does, reading
`ParsedRequest.model` answers the client's 400 "missing required parameter: 'model'",
so a path with no policy (or no default for this user) refuses it exactly as before,
at the first point that needs the model, and nothing can route an empty name.
"""

from __future__ import annotations

from typing import Final

import msgspec
from tianji_common.errors import InvalidRequest, NotImplementedFeature

from tianji_gateway.request_multipart import form_text, is_form, parse_form

__all__ = ["ParsedRequest", "parse_body"]

_body_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_MISSING_MODEL: Final = "missing required parameter: 'model'"


def _missing_model() -> InvalidRequest:
    return InvalidRequest(_MISSING_MODEL, param="model")


class _StreamOptions(msgspec.Struct):
    include_usage: bool = False


class ParsedRequest:
    """The body's raw values plus the fields routing and accounting need.

    `form`: the client sent multipart/form-data; `body` holds its fields
    (request_multipart). `model` raises the 400 while no model is known (see above).
    """

    __slots__ = ("_model", "body", "form", "include_usage", "stream", "user")

    def __init__(
        self,
        body: dict[str, msgspec.Raw],
        model: str,
        stream: bool,
        include_usage: bool,
        user: str | None,
        form: bool = False,
    ) -> None:
        self.body = body
        self._model = model
        self.stream = stream
        self.include_usage = include_usage
        self.user = user
        self.form = form

    @property
    def model(self) -> str:
        """The requested model; 400 "missing required parameter: 'model'" if none."""
        if not self._model:
            raise _missing_model()
        return self._model

    @model.setter
    def model(self, value: str) -> None:
        self._model = value

    @property
    def has_model(self) -> bool:
        """Whether a model is known yet (the body's, the path's, or a default)."""
        return bool(self._model)

    def __repr__(self) -> str:
        return f"ParsedRequest(model={self._model!r}, stream={self.stream}, user={self.user!r})"


def _decode(raw: msgspec.Raw | None, typ: type, name: str) -> object:
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=typ)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid value for {name!r}: {exc}", param=name) from None


def _parse_form(raw: bytes, content_type: str, model_override: str | None) -> ParsedRequest:
    body = parse_form(raw, content_type)
    model = model_override or form_text(body, "model")
    if not model:
        raise _missing_model()
    if (form_text(body, "stream") or "").lower() in ("true", "1"):
        raise NotImplementedFeature("streaming transcriptions are not implemented in TianjiLLM yet")
    return ParsedRequest(
        body=body, model=model, stream=False, include_usage=False, user=None, form=True
    )


def parse_body(
    raw: bytes, *, model_override: str | None = None, content_type: str | None = None
) -> ParsedRequest:
    """Decode and check the fields we act on; everything else stays raw."""
    if is_form(content_type):
        return _parse_form(raw, content_type, model_override)
    if not raw:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        body = _body_decoder.decode(raw)
    except msgspec.ValidationError:
        raise InvalidRequest("request body must be a JSON object") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    model = model_override or _decode(body.get("model"), str, "model")
    if not isinstance(model, str):
        model = ""  # an end user's default_model may fill it in (see the module docstring)
    stream = bool(_decode(body.get("stream"), bool | None, "stream"))  # type: ignore[arg-type]  # union is a valid msgspec type
    opts = _decode(body.get("stream_options"), _StreamOptions | None, "stream_options")  # type: ignore[arg-type]  # union is a valid msgspec type
    user = _decode(body.get("user"), str | None, "user")  # type: ignore[arg-type]  # union is a valid msgspec type
    return ParsedRequest(
        body,
        model,
        stream=stream,
        include_usage=isinstance(opts, _StreamOptions) and opts.include_usage,
        user=user if isinstance(user, str) else None,
    )
