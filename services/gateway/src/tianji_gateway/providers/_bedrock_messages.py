"""OpenAI chat messages translated into Converse `system` blocks and alternating turns.

Why: Converse (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html)
wants content blocks keyed by kind (`text`, `image`, `document`, `toolUse`,
`toolResult`, `reasoningContent`, `cachePoint`), tool results inside user turns and
strictly alternating roles. LiteLLM's `_bedrock_converse_messages_pt` is the target:
consecutive same-role messages merge, empty text blocks are skipped, `cache_control`
becomes a `cachePoint` after the block it marks. Images must arrive as data URLs (or
s3:// locations): hooks are sans-IO, so remote images are not fetched here.
"""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Block", "has_tool_blocks", "translate"]

Block = dict[str, Any]

_CACHE_POINT: Block = {"cachePoint": {"type": "default"}}
# https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html
_IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
# https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html
_DOCUMENT_FORMATS: Mapping[str, str] = MappingProxyType(
    {
        "application/pdf": "pdf",
        "text/csv": "csv",
        "application/msword": "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
        "application/vnd.ms-excel": "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
        "text/html": "html",
        "text/plain": "txt",
        "text/markdown": "md",
    }
)


def translate(messages: list[Block]) -> tuple[list[Block], list[Block]]:
    """System blocks, then user/assistant turns with same-role neighbours merged."""
    system: list[Block] = []
    turns: list[Block] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_with_cache(_content_blocks(msg.get("content")), msg))
            continue
        blocks = _with_cache(_turn_blocks(role, msg), msg)
        if not blocks:
            continue
        bedrock_role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == bedrock_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": bedrock_role, "content": blocks})
    return system, turns


def has_tool_blocks(turns: list[Block]) -> bool:
    """Whether the conversation carries tool calls or results (Converse then needs tools)."""
    return any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])


def _turn_blocks(role: Any, msg: Block) -> list[Block]:
    if role == "user":
        return _content_blocks(msg.get("content"))
    if role == "assistant":
        return _assistant_blocks(msg)
    if role == "tool":
        return [_tool_result(msg)]
    raise InvalidRequest(f"unsupported message role {role!r}", param="messages")


def _with_cache(blocks: list[Block], msg: Block) -> list[Block]:
    """A message-level `cache_control` puts a cache point after its last block."""
    if msg.get("cache_control") is not None and blocks:
        blocks.append(dict(_CACHE_POINT))
    return blocks


def _content_blocks(content: Any) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise InvalidRequest("message content must be a string or a list", param="messages")
    out: list[Block] = []
    for part in content:
        block = _part(part)
        if block is None:
            continue
        out.append(block)
        if isinstance(part, dict) and part.get("cache_control") is not None:
            out.append(dict(_CACHE_POINT))
    return out


def _part(part: Any) -> Block | None:
    if not isinstance(part, dict):
        raise InvalidRequest("content parts must be objects", param="messages")
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return {"text": text} if isinstance(text, str) and text.strip() else None
    if kind == "image_url":
        value = part.get("image_url")
        if isinstance(value, dict):
            return _media_block(value.get("url"), value.get("format"))
        return _media_block(value, None)
    if kind == "file":
        return _file_block(part.get("file"))
    if kind is None and len(part) == 1:
        return part  # already a Converse block ({"text": ...}, {"image": ...}, ...)
    raise InvalidRequest(f"unsupported content part type {kind!r} for bedrock", param="messages")


def _media_block(url: Any, fmt: Any) -> Block:
    """A data URL as image bytes (documents for document MIME types), or an s3 location."""
    if not isinstance(url, str):
        raise InvalidRequest("image_url parts need a url", param="messages")
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidRequest("data URLs must be base64-encoded", param="messages")
        mime = fmt if isinstance(fmt, str) and fmt else header.split(";", 1)[0]
        return _bytes_block(mime.lower(), data)
    if url.startswith("s3://"):
        ext = url.rsplit(".", 1)[-1].lower()
        image_format = "jpeg" if ext == "jpg" else ext
        if image_format not in _IMAGE_FORMATS:
            raise InvalidRequest(f"unsupported image format {ext!r}", param="messages")
        return {"image": {"format": image_format, "source": {"s3Location": {"uri": url}}}}
    raise InvalidRequest(
        "bedrock images must be data: URLs (base64) or s3:// locations; "
        "TianjiLLM does not download remote images",
        param="messages",
    )


def _bytes_block(mime: str, data: str) -> Block:
    document = _DOCUMENT_FORMATS.get(mime)
    if document is not None:
        # Converse needs a document name unique within the request; a content hash is.
        name = "document-" + hashlib.sha256(data.encode()).hexdigest()[:12]
        return {"document": {"format": document, "name": name, "source": {"bytes": data}}}
    kind, _, subtype = mime.partition("/")
    image_format = "jpeg" if subtype == "jpg" else subtype
    if kind != "image" or image_format not in _IMAGE_FORMATS:
        raise InvalidRequest(f"unsupported media type {mime!r} for bedrock", param="messages")
    return {"image": {"format": image_format, "source": {"bytes": data}}}


def _file_block(file: Any) -> Block:
    if isinstance(file, dict) and isinstance(file.get("file_data"), str):
        return _media_block(file["file_data"], file.get("format"))
    raise InvalidRequest("bedrock file parts need file_data (a data URL)", param="messages")


def _assistant_blocks(msg: Block) -> list[Block]:
    """Reasoning first (required back with tool use), then text, then tool calls."""
    blocks = [_reasoning_block(b) for b in msg.get("thinking_blocks") or []]
    blocks.extend(_content_blocks(msg.get("content")))
    blocks.extend(_tool_use(call) for call in msg.get("tool_calls") or [])
    return blocks


def _reasoning_block(block: Any) -> Block:
    if not isinstance(block, dict):
        raise InvalidRequest("thinking_blocks entries must be objects", param="messages")
    if block.get("type") == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": block.get("data", "")}}
    text: Block = {"text": block.get("thinking", "")}
    if block.get("signature"):
        text["signature"] = block["signature"]
    return {"reasoningContent": {"reasoningText": text}}


def _tool_use(call: Any) -> Block:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        raise InvalidRequest("tool_calls entries need a function", param="messages")
    args = fn.get("arguments") or "{}"
    try:
        value = msgspec.json.decode(args) if isinstance(args, str) else args
    except msgspec.DecodeError as exc:
        raise InvalidRequest(
            f"tool call {call.get('id')!r} has arguments that are not valid JSON",
            param="messages",
        ) from exc
    use = {"toolUseId": call.get("id", ""), "name": fn.get("name", ""), "input": value}
    return {"toolUse": use}


def _tool_result(msg: Block) -> Block:
    """Tool output as a `toolResult` block; text parts joined, images kept (LiteLLM)."""
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest("tool messages need tool_call_id", param="messages")
    content = msg.get("content")
    if isinstance(content, list):
        text = "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
        images = [_part(p) for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
        blocks: list[Block] = [{"text": text}] if text else []
        blocks.extend(b for b in images if b is not None)
    else:
        blocks = [{"text": content if isinstance(content, str) else ""}]
    return {"toolResult": {"toolUseId": call_id, "content": blocks}}
