"""OpenAI chat messages to Gemini `contents` and `systemInstruction`.

Why: Gemini turns are `user` / `model` with typed parts, the system prompt travels apart,
tool results are `functionResponse` parts named (not id'd) after the call, and media are
`inlineData` (base64) or `fileData` (URIs). The rules follow LiteLLM's
`_gemini_convert_messages_with_history` (vertex_ai/gemini/transformation.py): consecutive
user or assistant messages merge, a user turn without text gets a " " part, tool results
are grouped into one turn. Sans-IO: http(s) media become `fileData` by URL, where
LiteLLM would download images of unknown type; see `media_part`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SIGNATURE_SEPARATOR", "MessageIn", "convert_messages", "media_part"]

Part = dict[str, Any]
Content = dict[str, Any]

# LiteLLM's THOUGHT_SIGNATURE_SEPARATOR: a Gemini 3 function call's thoughtSignature
# rides in the OpenAI tool-call id so plain OpenAI clients send it back
# (https://ai.google.dev/gemini-api/docs/thought-signatures).
SIGNATURE_SEPARATOR = "__thought__"

# LiteLLM's `_get_image_mime_type_from_url`: extensions Gemini accepts as fileData.
_MIME_BY_EXT: Mapping[str, str] = MappingProxyType(
    {
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
        ".webp": "image/webp",
        ".gif": "image/gif",
        ".mp4": "video/mp4",
        ".mov": "video/mov",
        ".mpeg": "video/mpeg",
        ".mpg": "video/mpeg",
        ".avi": "video/avi",
        ".wmv": "video/wmv",
        ".mpegps": "video/mpegps",
        ".flv": "video/flv",
        ".mp3": "audio/mp3",
        ".wav": "audio/wav",
        ".pdf": "application/pdf",
        ".txt": "text/plain",
    }
)


class _FunctionIn(msgspec.Struct):
    name: str = ""
    arguments: str | None = None


class _ToolCallIn(msgspec.Struct):
    id: str = ""
    function: _FunctionIn = msgspec.field(default_factory=_FunctionIn)


class MessageIn(msgspec.Struct):
    """One OpenAI chat message, only the fields the translation reads."""

    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[_ToolCallIn] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


def convert_messages(messages: list[MessageIn]) -> tuple[Content | None, list[Content]]:
    """`(systemInstruction, contents)` for an OpenAI message list."""
    system = [_system_text(m) for m in messages if m.role in ("system", "developer")]
    rest = [m for m in messages if m.role not in ("system", "developer")]
    if system and not rest:  # LiteLLM issue 13769: Gemini needs one user turn
        rest = [MessageIn(role="user", content=".")]
    contents = _turns(rest)
    if not contents:  # LiteLLM issue 9733: contents are required
        contents = [{"role": "user", "parts": [{"text": " "}]}]
    instruction = {"parts": [{"text": t} for t in system]} if system else None
    return instruction, contents


def _system_text(msg: MessageIn) -> str:
    if isinstance(msg.content, list):
        return "".join(str(p.get("text") or "") for p in msg.content)
    return msg.content or ""


def _turns(messages: list[MessageIn]) -> list[Content]:
    """Merge same-role neighbours; tool results form their own user turn."""
    out: list[Content] = []
    kinds: list[str] = []  # "user" | "model" | "tool", parallel to `out`
    names: dict[str, str] = {}  # tool_call_id -> function name, from assistant turns
    for msg in messages:
        kind, parts = _message_parts(msg, names)
        if not parts:
            continue
        if kinds and kinds[-1] == kind:
            out[-1]["parts"].extend(parts)
            continue
        out.append({"role": "model" if kind == "model" else "user", "parts": parts})
        kinds.append(kind)
    for content, kind in zip(out, kinds, strict=True):
        if kind == "user" and not any(p.get("text") for p in content["parts"]):
            # LiteLLM issue 5515: Vertex rejects a user turn without a text part.
            content["parts"].append({"text": " "})
    return out


def _message_parts(msg: MessageIn, names: dict[str, str]) -> tuple[str, list[Part]]:
    if msg.role == "user":
        return "user", _user_parts(msg.content)
    if msg.role == "assistant":
        for call in msg.tool_calls or []:
            names[call.id] = call.function.name
        return "model", _assistant_parts(msg)
    if msg.role in ("tool", "function"):
        return "tool", [_tool_result(msg, names)]
    raise InvalidRequest(f"unsupported message role {msg.role!r}", param="messages")


def _user_parts(content: str | list[dict[str, Any]] | None) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Part] = []
    for index, element in enumerate(content):
        part = _content_part(element, index)
        if part is not None:
            parts.append(part)
    return parts


def _content_part(element: dict[str, Any], index: int) -> Part | None:
    kind = element.get("type")
    if kind == "text":
        text = element.get("text")
        return {"text": text} if isinstance(text, str) and text else None
    if kind == "image_url":
        value = element.get("image_url")
        if isinstance(value, dict):
            return media_part(value.get("url"), value.get("format"), default_mime="image/jpeg")
        return media_part(value, None, default_mime="image/jpeg")
    if kind == "input_audio":
        audio = element.get("input_audio") or {}
        fmt = str(audio.get("format") or "")
        mime = fmt if fmt.startswith("audio/") else "audio/" + fmt
        return {"inlineData": {"mimeType": mime, "data": audio.get("data") or ""}}
    if kind == "file":
        file = element.get("file") or {}
        source = file.get("file_id") or file.get("file_data")
        if not isinstance(source, str):
            raise InvalidRequest(
                f"content[{index}]: file parts need file_id or file_data", param="messages"
            )
        return media_part(source, file.get("format"))
    return None  # unknown part types are skipped, as LiteLLM does


def media_part(url: Any, fmt: Any = None, *, default_mime: str | None = None) -> Part:
    """A data URL as `inlineData`; gs:// and http(s) URLs as `fileData` by reference."""
    if not isinstance(url, str) or not url:
        raise InvalidRequest("media parts need a url", param="messages")
    mime = fmt if isinstance(fmt, str) and fmt else None
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidRequest("data URLs must be base64-encoded", param="messages")
        return {"inlineData": {"mimeType": mime or header.split(";", 1)[0], "data": data}}
    if not url.startswith(("gs://", "https://", "http://")):
        raise InvalidRequest("media must be a data: URL, gs:// or http(s) URL", param="messages")
    mime = mime or _mime_from_url(url) or default_mime
    if mime is None:
        raise InvalidRequest(
            f"cannot tell the media type of {url!r}; set file.format", param="messages"
        )
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _mime_from_url(url: str) -> str | None:
    path = url.split("?", 1)[0].lower()
    return next((mime for ext, mime in _MIME_BY_EXT.items() if path.endswith(ext)), None)


def _assistant_parts(msg: MessageIn) -> list[Part]:
    """Thoughts, then text, then function calls (signatures restored from call ids)."""
    parts: list[Part] = []
    if msg.reasoning_content:
        parts.append({"text": msg.reasoning_content, "thought": True})
    parts.extend(_signed_blocks(msg.thinking_blocks))
    if isinstance(msg.content, str) and msg.content:
        parts.append({"text": msg.content})
    elif isinstance(msg.content, list):
        parts.extend(
            {"text": p["text"]}
            for p in msg.content
            if p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    for call in msg.tool_calls or []:
        part = _function_call(call)
        if not any(p.get("functionCall") == part["functionCall"] for p in parts):
            parts.append(part)
    return parts


def _signed_blocks(blocks: list[dict[str, Any]] | None) -> list[Part]:
    """LiteLLM's thinking_blocks for Gemini: a part (as JSON) and its thoughtSignature."""
    out: list[Part] = []
    for block in blocks or []:
        text, signature = block.get("thinking"), block.get("signature")
        if block.get("type") != "thinking" or not isinstance(text, str) or not signature:
            continue
        try:
            part = msgspec.json.decode(text)
        except msgspec.DecodeError:
            part = {"text": text}
        if isinstance(part, dict):
            out.append({**part, "thoughtSignature": signature})
    return out


def _function_call(call: _ToolCallIn) -> Part:
    raw = call.function.arguments
    try:
        args = msgspec.json.decode(raw) if raw else {}
    except msgspec.DecodeError as exc:
        raise InvalidRequest(
            f"tool call {call.id!r} has arguments that are not valid JSON", param="messages"
        ) from exc
    part: Part = {"functionCall": {"name": call.function.name, "args": args}}
    _, sep, signature = call.id.partition(SIGNATURE_SEPARATOR)
    if sep and signature:
        part["thoughtSignature"] = signature
    return part


def _tool_result(msg: MessageIn, names: dict[str, str]) -> Part:
    name = names.get(msg.tool_call_id or "") or msg.name
    if not name:
        raise InvalidRequest(
            "a tool message has no matching assistant tool call (tool_call_id "
            f"{msg.tool_call_id!r})",
            param="messages",
        )
    if isinstance(msg.content, list):
        text = "".join(str(p.get("text") or "") for p in msg.content if p.get("type") == "text")
    else:
        text = msg.content or ""
    return {"functionResponse": {"name": name, "response": {"content": text}}}
