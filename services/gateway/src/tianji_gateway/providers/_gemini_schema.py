"""JSON Schema (OpenAI tools, response_format) cut down to Gemini's OpenAPI `Schema`.

Why: Gemini takes an OpenAPI 3.0 subset (https://ai.google.dev/api/caching#Schema) and
rejects `$schema`, `$ref`, `additionalProperties`, `strict`, type lists and most
`format`s with a 400. LiteLLM's `_build_vertex_schema` (vertex_ai/common_utils.py) is
the compatibility target: inline `$defs`, turn `anyOf: [.., {"type": "null"}]` into
`nullable`, keep only `Schema` fields, add `propertyOrdering` for structured output.
Pure functions over plain dicts; the input is never mutated.
"""

from __future__ import annotations

from typing import Any

from tianji_common.errors import InvalidRequest

__all__ = ["clean_schema"]

Schema = dict[str, Any]

# Fields of Gemini's `Schema` object (LiteLLM's `Schema` TypedDict); others are dropped.
_SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "default",
        "items",
        "minItems",
        "maxItems",
        "enum",
        "properties",
        "propertyOrdering",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "minimum",
        "maximum",
    }
)
# Gemini accepts only these `format`s on strings (LiteLLM's `filter_schema_fields`).
_FORMATS = frozenset({"enum", "date-time"})
_MAX_DEPTH = 64  # recursive `$ref`s are unrolled only this far


def clean_schema(schema: Any, *, property_ordering: bool = False, param: str = "tools") -> Schema:
    """A Gemini `Schema` for a JSON Schema; `property_ordering` for response schemas."""
    if not isinstance(schema, dict):
        raise InvalidRequest("a JSON schema must be an object", param=param)
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    out = _clean(schema, defs, 0, param)
    if property_ordering:
        _add_ordering(out)
    return out


def _clean(node: Schema, defs: Schema, depth: int, param: str) -> Schema:
    if depth > _MAX_DEPTH:
        raise InvalidRequest("JSON schema nests (or recurses) too deeply", param=param)
    node = _resolve_ref(node, defs, param)
    node = _normalize_types(node)
    out: Schema = {}
    for key, value in node.items():
        if key not in _SCHEMA_FIELDS or key == "anyOf":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _clean(_obj(v), defs, depth + 1, param) for k, v in value.items()}
        elif key == "items":
            out[key] = _clean(_obj(value), defs, depth + 1, param) if value else {"type": "object"}
        elif key == "format":
            if value in _FORMATS:
                out[key] = value
        elif not (key == "required" and value is None):
            out[key] = value
    if isinstance(node.get("anyOf"), list):
        return _any_of(node, out, defs, depth, param)
    if "properties" in out:
        out["type"] = "object"
    return out


def _obj(value: Any) -> Schema:
    return value if isinstance(value, dict) else {}


def _resolve_ref(node: Schema, defs: Schema, param: str) -> Schema:
    """`{"$ref": "#/$defs/X", ...}` becomes X merged under the node's other keys."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    name = ref.rsplit("/", 1)[-1]
    target = defs.get(name)
    if not isinstance(target, dict):
        raise InvalidRequest(f"JSON schema $ref {ref!r} does not resolve", param=param)
    rest = {k: v for k, v in node.items() if k != "$ref"}
    return {**target, **rest}


def _normalize_types(node: Schema) -> Schema:
    """`type: ["string", "null"]` becomes `type: string, nullable`; longer lists anyOf."""
    kind = node.get("type")
    if not isinstance(kind, list):
        return node
    kinds = [k for k in kind if isinstance(k, str) and k != "null"]
    out = {k: v for k, v in node.items() if k != "type"}
    if "null" in kind:
        out["nullable"] = True
    if len(kinds) == 1:
        out["type"] = kinds[0]
    elif kinds:
        out["anyOf"] = [{"type": k} for k in kinds]
    return out


def _any_of(node: Schema, out: Schema, defs: Schema, depth: int, param: str) -> Schema:
    """Null branches become `nullable` on the others; only anyOf (plus docs) survives."""
    branches = [_obj(b) for b in node["anyOf"]]
    nullable = any(b == {"type": "null"} for b in branches)
    kept = [b or {"type": "object"} for b in branches if b != {"type": "null"}]
    if not kept:
        raise InvalidRequest("anyOf with only a null type is not supported", param=param)
    cleaned = []
    for branch in kept:
        item = _clean(branch, defs, depth + 1, param)
        for doc in ("title", "description"):
            if doc in out:
                item.setdefault(doc, out[doc])
        if nullable:
            if item.get("type") == "array" and not item.get("items"):
                item.pop("items", None)
            item["nullable"] = True
        cleaned.append(item)
    if len(cleaned) == 1:
        return cleaned[0]
    return {"anyOf": cleaned}


def _add_ordering(node: Schema) -> None:
    """Gemini orders structured output alphabetically unless told the property order."""
    props = node.get("properties")
    if isinstance(props, dict):
        node.setdefault("propertyOrdering", list(props))
        for value in props.values():
            _add_ordering(value)
    if isinstance(node.get("items"), dict):
        _add_ordering(node["items"])
    for branch in node.get("anyOf", []):
        _add_ordering(branch)
