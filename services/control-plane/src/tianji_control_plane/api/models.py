"""`/model/*`, `/v1|v2/model/info`, `/model_group/info`: LiteLLM's model routes.

A caller who is not a proxy admin (viewer) sees only the deployments its key may
call (`domain.models.visible_deployments`).

Responses never carry a secret: LiteLLM's `remove_sensitive_info_from_deployment`
drops `api_key` and the cloud secrets from `litellm_params`, and every other secret
field (`is_secret_param`) is masked. Stored rows hold ciphertext; it is not echoed
either.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath
from tianji_common.crypto import box_from_env
from tianji_common.errors import InvalidRequest
from tianji_common.pricing import LITELLM_PRICE_FIELDS, PRICING_FILE_ENV, PriceTable, load_prices

from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import models as domain
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.credentials import mask_values
from tianji_control_plane.domain.models import (
    Deployment,
    ModelRef,
    NewModel,
    UpdateModel,
    all_deployments,
    visible_deployments,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from litestar.types import ControllerRouterHandler
    from tianji_common.crypto import SecretBox

    from tianji_control_plane.repo.models import ModelRow

__all__ = ["deployment_view", "model_routes", "price_info"]

# LiteLLM's `remove_sensitive_info_from_deployment` pops these outright.
_DROPPED: Final = (
    "api_key",
    "client_secret",
    "vertex_credentials",
    "vertex_ai_credentials",
    "aws_access_key_id",
    "aws_secret_access_key",
)
_MAX_PAGE_SIZE: Final = 100


def _provider(params: dict[str, Any], prices: PriceTable) -> tuple[str | None, str]:
    """(provider, model) from `custom_llm_provider` or the `provider/` prefix."""
    model = str(params.get("model") or "")
    provider = params.get("custom_llm_provider")
    prefix, sep, rest = model.partition("/")
    if sep and (provider is None or provider == prefix):
        return prefix, rest
    if isinstance(provider, str) and provider:
        return provider, model
    bare = prices.models.get(model)
    return (bare.provider if bare is not None and bare.provider else None), model


def _number(value: Decimal | int | None) -> float | int | None:
    return float(value) if isinstance(value, Decimal) else value


def price_info(dep: Deployment, prices: PriceTable) -> dict[str, Any]:
    """What the price table knows of a deployment, in LiteLLM's `model_info` names."""
    provider, model = _provider(dep.litellm_params, prices)
    base = dep.model_info.get("base_model") or dep.litellm_params.get("base_model")
    entry = None
    if provider is not None:
        entry = prices.lookup(model, provider, base if isinstance(base, str) else None)
    info: dict[str, Any] = {"litellm_provider": provider}
    if entry is None:
        return info
    info |= {
        "mode": entry.mode,
        "max_input_tokens": entry.max_input_tokens,
        "max_output_tokens": entry.max_output_tokens,
        "max_tokens": entry.max_output_tokens,
    }
    for ours, theirs in LITELLM_PRICE_FIELDS.items():
        value = getattr(entry, ours)
        if value is not None:
            info[theirs[0]] = _number(value)
    return info


def _public_params(params: dict[str, Any], box: SecretBox | None) -> dict[str, Any]:
    shown = {k: v for k, v in params.items() if k not in _DROPPED}
    return mask_values(shown, box)


def deployment_view(dep: Deployment, box: SecretBox | None, prices: PriceTable) -> dict[str, Any]:
    """One `/model/info` entry: params without secrets, model info with prices."""
    info = {**price_info(dep, prices), **dep.model_info}
    info |= {"id": dep.model_id, "db_model": dep.db_model}
    return {
        "model_name": dep.model_name,
        "litellm_params": _public_params(dep.litellm_params, box),
        "model_info": info,
    }


def _row_view(row: ModelRow, box: SecretBox | None) -> dict[str, Any]:
    """The `/model/new|update` answer: the stored row (LiteLLM's), secrets withheld."""
    return {
        "model_id": row.model_id,
        "model_name": row.model_name,
        "litellm_params": _public_params(row.litellm_params, box),
        "model_info": row.model_info,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
    }


def _first(values: Sequence[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def _total(values: Sequence[Any]) -> int | None:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return int(sum(numbers)) if numbers else None


def group_views(deps: Sequence[Deployment], prices: PriceTable) -> list[dict[str, Any]]:
    """`/model_group/info` entries (LiteLLM's `ModelGroupInfo`), one per model name."""
    groups: dict[str, list[Deployment]] = {}
    for dep in deps:
        groups.setdefault(dep.model_name, []).append(dep)
    out = []
    for name, members in groups.items():
        infos = [{**price_info(d, prices), **d.model_info} for d in members]
        params = [d.litellm_params for d in members]
        out.append(
            {
                "model_group": name,
                "providers": sorted({p for i in infos if (p := i["litellm_provider"])}),
                "max_input_tokens": _first([i.get("max_input_tokens") for i in infos]),
                "max_output_tokens": _first([i.get("max_output_tokens") for i in infos]),
                "input_cost_per_token": _first([i.get("input_cost_per_token") for i in infos]),
                "output_cost_per_token": _first([i.get("output_cost_per_token") for i in infos]),
                "mode": _first([i.get("mode") for i in infos]),
                "tpm": _total([p.get("tpm") for p in params]),
                "rpm": _total([p.get("rpm") for p in params]),
                "supports_parallel_function_calling": False,
                "supports_vision": False,
                "supports_function_calling": False,
                "supported_openai_params": [],
                "configurable_clientside_auth_params": None,
            }
        )
    return out


def _page_param(request: Request[Any, Any, Any], name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer", param=name, status=422) from None
    if not 1 <= value <= top:
        raise InvalidRequest(f"{name} must be between 1 and {top}", param=name, status=422)
    return value


def _v2_filter(data: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """`/v2/model/info` filters: exact `model`, exact `modelId`, substring `search`."""
    if name := query.get("model"):
        data = [d for d in data if d["model_name"] == name]
    if model_id := query.get("modelId"):
        data = [d for d in data if d["model_info"]["id"] == model_id]
    if search := query.get("search"):
        data = [d for d in data if search.lower() in d["model_name"].lower()]
    return data


def model_routes(
    state: ControlState, config: Sequence[Deployment]
) -> list[ControllerRouterHandler]:
    """Every model route, bound to `state` and the config's deployments."""
    box = box_from_env(master_key=state.master_key)
    prices = load_prices(os.environ.get(PRICING_FILE_ENV))

    async def listed(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
        ctx = await state.authorize(request)
        deps = await visible_deployments(ctx, await all_deployments(ctx.db, config))
        wanted = request.query_params.get("litellm_model_id")
        if wanted:
            deps = [d for d in deps if d.model_id == wanted]
        return [deployment_view(d, box, prices) for d in deps]

    @post("/model/new", status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), NewModel)
        return json_response(_row_view(await domain.new_model(ctx, body, box, config), box))

    @post("/model/update", status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UpdateModel)
        model_id = (body.model_info or {}).get("id")
        if not model_id:
            raise InvalidRequest("model_info.id is required", param="model_info.id", status=422)
        row = await domain.update_model(ctx, str(model_id), body, box, config)
        return json_response(_row_view(row, box))

    @patch("/model/{model_id:str}/update", status_code=200)
    async def patch_(request: Request[Any, Any, Any], model_id: FromPath[str]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UpdateModel)
        row = await domain.update_model(ctx, model_id, body, box, config)
        return json_response(_row_view(row, box))

    @post("/model/delete", status_code=200)
    async def delete(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), ModelRef)
        row = await domain.delete_model(ctx, body.id, config)
        return json_response({"message": f"Model: {row.model_id} deleted successfully"})

    @get(["/model/info", "/v1/model/info"])
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        return json_response({"data": await listed(request)})

    @get("/v2/model/info")
    async def info_v2(request: Request[Any, Any, Any]) -> Response[bytes]:
        page = _page_param(request, "page", 1, 1 << 31)
        size = _page_param(request, "size", 50, _MAX_PAGE_SIZE)
        data = _v2_filter(await listed(request), request.query_params)
        total = len(data)
        return json_response(
            {
                "data": data[(page - 1) * size : page * size],
                "total_count": total,
                "current_page": page,
                "total_pages": -(-total // size),
                "size": size,
            }
        )

    @get("/model_group/info")
    async def group_info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        deps = await visible_deployments(ctx, await all_deployments(ctx.db, config))
        groups = group_views(deps, prices)
        if wanted := request.query_params.get("model_group"):
            groups = [g for g in groups if g["model_group"] == wanted]
        return json_response({"data": groups})

    return [new, update, patch_, delete, info, info_v2, group_info]
