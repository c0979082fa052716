"""`/credentials` CRUD: LiteLLM's paths, bodies and answers; values never in clear.

Listing and reading mask each secret field as LiteLLM does (`sk****yz`); fields that
are not secret (`api_base`, `api_version`, ...) are shown as given. Names may contain
slashes (LiteLLM's `{credential_name:path}`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath
from tianji_common.crypto import DecryptError, box_from_env
from tianji_common.errors import GatewayError, NotFound

from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import credentials as domain
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.credentials import (
    CredentialBody,
    CredentialPatch,
    is_secret_param,
    mask_values,
    open_values,
    unseal,
)
from tianji_control_plane.domain.models import all_deployments
from tianji_control_plane.repo.credentials import all_credentials

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.types import ControllerRouterHandler
    from tianji_common.crypto import SecretBox

    from tianji_control_plane.domain.models import Deployment
    from tianji_control_plane.repo.credentials import CredentialRow
    from tianji_control_plane.repo.db import Db

__all__ = ["credential_routes"]

# Where a deployment's credential lives besides its secrets (LiteLLM's
# `CredentialLiteLLMParams`), copied by `POST /credentials {model_id}`.
_LOCATION_FIELDS: Final = (
    "api_base",
    "api_version",
    "region_name",
    "aws_region_name",
    "vertex_project",
    "vertex_location",
    "watsonx_region_name",
)


def _name(raw: str) -> str:
    return raw.lstrip("/")  # a `:path` parameter keeps its leading slash


def _item(row: CredentialRow, box: SecretBox | None, *, strict: bool) -> dict[str, Any]:
    """LiteLLM's masked `CredentialItem`.

    A value that no longer opens (another salt key, a tampered row) is a 500 when read
    by name; in a listing it shows no values, so one bad row does not hide the rest.
    """
    try:
        values = open_values(box, row.credential_values)
    except GatewayError:
        if strict:
            raise
        values = {}
    return {
        "credential_name": row.credential_name,
        "credential_values": mask_values(values, box),
        "credential_info": row.credential_info,
    }


async def _model_values(
    db: Db, config: Sequence[Deployment], box: SecretBox | None, model_id: str
) -> tuple[Deployment, dict[str, Any]]:
    """A deployment and its credential fields in clear, or 404 (LiteLLM's message)."""
    found = next((d for d in await all_deployments(db, config) if d.model_id == model_id), None)
    if found is None:
        raise NotFound("Model not found", param="model_id")
    try:
        values = {
            name: unseal(box, value)
            for name, value in found.litellm_params.items()
            if value is not None and (is_secret_param(name) or name in _LOCATION_FIELDS)
        }
    except DecryptError as exc:
        raise GatewayError(
            f"The secrets of model {model_id} cannot be decrypted with the configured salt key.",
            code="model_decrypt_failed",
        ) from exc
    return found, values


def _ok(message: str) -> Response[bytes]:
    return json_response({"success": True, "message": message})


def credential_routes(
    state: ControlState, config: Sequence[Deployment]
) -> list[ControllerRouterHandler]:
    """Every `/credentials` route, bound to `state`."""
    box = box_from_env(master_key=state.master_key)

    @post("/credentials", status_code=200)
    async def create(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), CredentialBody)
        values = body.credential_values
        if body.model_id:
            _, values = await _model_values(ctx.db, config, box, body.model_id)
        await domain.create_credential(ctx, body, box, values)
        return _ok("Credential created successfully")

    @get("/credentials")
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        rows = await all_credentials(ctx.db)
        return json_response(
            {"success": True, "credentials": [_item(r, box, strict=False) for r in rows]}
        )

    @get("/credentials/by_name/{credential_name:path}")
    async def by_name(
        request: Request[Any, Any, Any], credential_name: FromPath[str]
    ) -> Response[bytes]:
        ctx = await state.authorize(request)
        row = await domain.get_credential_or_404(ctx.db, _name(credential_name))
        return json_response(_item(row, box, strict=True))

    @get("/credentials/by_model/{model_id:str}")
    async def by_model(request: Request[Any, Any, Any], model_id: FromPath[str]) -> Response[bytes]:
        ctx = await state.authorize(request)
        found, values = await _model_values(ctx.db, config, box, model_id)
        return json_response(
            {
                "credential_name": f"{found.model_name}-credential-{model_id}",
                "credential_values": mask_values(values, box),
                "credential_info": {},
            }
        )

    @patch("/credentials/{credential_name:path}", status_code=200)
    async def update(
        request: Request[Any, Any, Any], credential_name: FromPath[str]
    ) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), CredentialPatch)
        await domain.update_credential(ctx, _name(credential_name), body, box)
        return _ok("Credential updated successfully")

    @delete("/credentials/{credential_name:path}", status_code=200)
    async def remove(
        request: Request[Any, Any, Any], credential_name: FromPath[str]
    ) -> Response[bytes]:
        ctx = await state.authorize(request)
        await domain.delete_credential(ctx, _name(credential_name))
        return _ok("Credential deleted successfully")

    return [create, list_, by_name, by_model, update, remove]
