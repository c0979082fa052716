"""Deployments stored in the database (`/model/new|update|delete`) next to the config's.

Why secrets are sealed here, before the row is written: the database, the audit log,
the bus and every gateway's snapshot then only ever see ciphertext
(`DbModelPolicy.litellm_params` carries it as stored; gateways open it with the same
salt key). A model without secret values can be stored without a salt key; one with
them is refused (500) rather than stored in clear. An `os.environ/NAME` value is a
reference, not a secret: it is kept as given and resolved by the gateway, as in a file.

Config models (the file's `model_list`) are read-only here, as in LiteLLM: they are
listed by `/model/info`, count as known names for access groups, and `/model/update`
or `/model/delete` on one answers 400 telling the caller to store it with `/model/new`.

Who sees which deployment (`visible_deployments`), as LiteLLM's `/model/info` and
`/model_group/info` decide (`auth/model_checks.py`: `get_key_models`,
`get_team_models`, `get_complete_model_list`): proxy admins and viewers see all; any
other caller sees its key's `models`, else (an empty list) its team's, else every
model. `all-team-models` on the key means the team's list, `all-proxy-models` or `*`
means every model, `prefix/*` every model under the prefix, and an access group
name (a `tianji_model_access_group` row, or a deployment's `model_info.access_groups`)
stands for its models.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from tianji_common.errors import GatewayError, InvalidRequest, NotFound
from tianji_common.policy import DbModelPolicy

from tianji_control_plane.domain.common import Ctx, write
from tianji_control_plane.domain.credentials import needs_seal, require_box, seal
from tianji_control_plane.repo import models as repo
from tianji_control_plane.repo.access_groups import all_access_groups
from tianji_control_plane.repo.keys import get_key
from tianji_control_plane.repo.models import ModelRow
from tianji_control_plane.repo.teams import get_team

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_common.config.model import ModelEntry
    from tianji_common.crypto import SecretBox

    from tianji_control_plane.repo.db import Db

__all__ = [
    "Deployment",
    "ModelRef",
    "NewModel",
    "UpdateModel",
    "all_deployments",
    "config_deployments",
    "db_model_policy",
    "delete_model",
    "model_policies",
    "new_model",
    "update_model",
    "visible_deployments",
]

_TABLE: Final = "tianji_proxy_model"
# LiteLLM's SpecialModelNames.
_ALL_PROXY_MODELS: Final = frozenset({"all-proxy-models", "*"})
_ALL_TEAM_MODELS: Final = "all-team-models"


class Deployment(msgspec.Struct, frozen=True, kw_only=True):
    """One deployment as the model-info routes show it (config or database)."""

    model_id: str
    model_name: str
    litellm_params: dict[str, Any]
    model_info: dict[str, Any]
    db_model: bool


class NewModel(msgspec.Struct, kw_only=True):
    """`POST /model/new` (LiteLLM's `Deployment`)."""

    model_name: str
    litellm_params: dict[str, Any]
    model_info: dict[str, Any] | None = None


class UpdateModel(msgspec.Struct, kw_only=True):
    """`POST /model/update` and `PATCH /model/{id}/update` (LiteLLM's `updateDeployment`)."""

    model_name: str | None = None
    litellm_params: dict[str, Any] | None = None
    model_info: dict[str, Any] | None = None


class ModelRef(msgspec.Struct, kw_only=True):
    """`POST /model/delete` (LiteLLM's `ModelInfoDelete`)."""

    id: str


def _config_id(entry: ModelEntry) -> str:
    """The config deployment's id: must match the gateway's `routing.build.deployment_id`."""
    if entry.model_info.id:
        return entry.model_info.id
    canon = msgspec.json.encode(
        {
            "model_name": entry.model_name,
            "litellm_params": msgspec.to_builtins(entry.litellm_params),
        },
        order="sorted",
    )
    return hashlib.sha256(canon).hexdigest()


def _flat(struct: msgspec.Struct) -> dict[str, Any]:
    """A typed config Struct as LiteLLM's flat dict: set fields, then `settings`/`extra`."""
    fields = msgspec.to_builtins(struct)
    extra = fields.pop("extra", {})
    settings = fields.pop("settings", {})
    return {**{k: v for k, v in fields.items() if v is not None}, **settings, **extra}


def config_deployments(entries: Sequence[ModelEntry]) -> tuple[Deployment, ...]:
    """The config's `model_list` as deployments (values in clear; masked when shown)."""
    out = []
    for entry in entries:
        model_id = _config_id(entry)
        out.append(
            Deployment(
                model_id=model_id,
                model_name=entry.model_name,
                litellm_params=_flat(entry.litellm_params),
                model_info={**_flat(entry.model_info), "id": model_id},
                db_model=False,
            )
        )
    return tuple(out)


def _deployment(row: ModelRow) -> Deployment:
    return Deployment(
        model_id=row.model_id,
        model_name=row.model_name,
        litellm_params=row.litellm_params,
        model_info={**row.model_info, "id": row.model_id},
        db_model=True,
    )


async def all_deployments(db: Db, config: Sequence[Deployment]) -> list[Deployment]:
    """Config deployments first (file order), then stored ones (oldest first)."""
    return [*config, *(_deployment(r) for r in await repo.all_models(db))]


def db_model_policy(row: ModelRow) -> DbModelPolicy:
    """What a gateway receives: `litellm_params` as stored (secrets still sealed)."""
    return DbModelPolicy(
        model_id=row.model_id,
        model_name=row.model_name,
        litellm_params=row.litellm_params,
        model_info={**row.model_info, "id": row.model_id},
    )


async def model_policies(db: Db) -> dict[str, DbModelPolicy]:
    """The snapshot section: every stored deployment by id."""
    return {r.model_id: db_model_policy(r) for r in await repo.all_models(db)}


def _sealed_params(params: dict[str, Any], box: SecretBox | None) -> dict[str, Any]:
    """Secret values sealed; a box is demanded only when there is a secret to seal."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if needs_seal(name, value):
            out[name] = seal(require_box(box), value)
        else:
            out[name] = value
    return out


def _check_model_param(params: dict[str, Any]) -> None:
    model = params.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(
            "litellm_params.model is required (e.g. 'openai/gpt-4o')",
            param="litellm_params.model",
            status=422,
        )


def _check_name(name: str) -> str:
    if not name.strip():
        raise InvalidRequest("model_name must not be empty", param="model_name", status=422)
    return name


async def new_model(
    ctx: Ctx, body: NewModel, box: SecretBox | None, config: Sequence[Deployment]
) -> ModelRow:
    """Store a deployment; its id is `model_info.id` when given, else a new UUID."""
    _check_name(body.model_name)
    _check_model_param(body.litellm_params)
    info = dict(body.model_info or {})
    given = info.get("id")
    model_id = str(given) if given not in (None, "") else str(uuid.uuid4())
    params = _sealed_params(body.litellm_params, box)
    now = datetime.now(UTC)
    row = ModelRow(
        model_id=model_id,
        model_name=body.model_name,
        litellm_params=params,
        model_info={**info, "id": model_id},
        created_at=now,
        created_by=ctx.actor,
        updated_at=now,
        updated_by=ctx.actor,
    )
    async with write(ctx) as changes:
        taken = any(d.model_id == model_id for d in config)
        if taken or await repo.get_model(ctx.db, model_id) is not None:
            raise InvalidRequest(f"Model with id={model_id} already exists", param="model_info.id")
        await repo.insert_model(ctx.db, row)
        policy = db_model_policy(row)
        await ctx.audit("created", _TABLE, model_id, None, policy)
        changes.models[model_id] = policy
    return row


def _in_config_or_404(model_id: str, config: Sequence[Deployment], verb: str) -> GatewayError:
    if any(d.model_id == model_id for d in config):
        return InvalidRequest(
            f"Can't {verb} model={model_id}: it is defined in the config file. "
            "Store a model in the database via `/model/new` to manage it through the API.",
            param="id",
        )
    return NotFound(f"Model with id={model_id} not found in db", param="id")


def _merged_params(
    stored: dict[str, Any], patch: dict[str, Any], box: SecretBox | None
) -> dict[str, Any]:
    """A null removes the field; secret values are sealed; the rest replace."""
    merged = dict(stored)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif needs_seal(name, value):
            merged[name] = seal(require_box(box), value)
        else:
            merged[name] = value
    _check_model_param(merged)
    return merged


async def update_model(
    ctx: Ctx,
    model_id: str,
    body: UpdateModel,
    box: SecretBox | None,
    config: Sequence[Deployment],
) -> ModelRow:
    """Merge the fields present into the stored deployment."""
    async with write(ctx) as changes:
        before = await repo.get_model(ctx.db, model_id)
        if before is None:
            raise _in_config_or_404(model_id, config, "edit")
        after = msgspec.structs.replace(
            before,
            model_name=before.model_name
            if body.model_name is None
            else _check_name(body.model_name),
            litellm_params=_merged_params(before.litellm_params, body.litellm_params or {}, box),
            model_info={**before.model_info, **(body.model_info or {}), "id": model_id},
            updated_at=datetime.now(UTC),
            updated_by=ctx.actor,
        )
        await repo.update_model(ctx.db, after)
        policy = db_model_policy(after)
        await ctx.audit("updated", _TABLE, model_id, db_model_policy(before), policy)
        changes.models[model_id] = policy
    return after


async def delete_model(ctx: Ctx, model_id: str, config: Sequence[Deployment]) -> ModelRow:
    """Delete a stored deployment, or 404 (400 for a config one)."""
    async with write(ctx) as changes:
        before = await repo.get_model(ctx.db, model_id)
        if before is None:
            raise _in_config_or_404(model_id, config, "delete")
        await repo.delete_model(ctx.db, model_id)
        await ctx.audit("deleted", _TABLE, model_id, db_model_policy(before), None)
        changes.models[model_id] = None
    return before


async def _group_members(db: Db, deployments: Sequence[Deployment]) -> dict[str, list[str]]:
    """Access group name → model names: stored groups, then deployments' `access_groups`."""
    groups = {g.access_group: list(g.model_names) for g in await all_access_groups(db)}
    for dep in deployments:
        named = dep.model_info.get("access_groups")
        for group in named if isinstance(named, list) else ():
            if isinstance(group, str):
                groups.setdefault(group, []).append(dep.model_name)
    return groups


def _expand(models: Sequence[str], groups: dict[str, list[str]]) -> set[str]:
    """A `models` list with each access group name replaced by its models (one level)."""
    out: set[str] = set()
    for model in models:
        out.update(groups.get(model, (model,)))
    return out


def _admits(names: set[str], model_name: str) -> bool:
    if model_name in names or names & _ALL_PROXY_MODELS:
        return True
    return any(n.endswith("/*") and model_name.startswith(n[:-1]) for n in names)


async def visible_deployments(ctx: Ctx, deployments: Sequence[Deployment]) -> list[Deployment]:
    """The deployments the caller may call (see the module docstring), in order."""
    caller = ctx.caller
    if caller.reads_all:
        return list(deployments)
    key = None if caller.key_hash is None else await get_key(ctx.db, caller.key_hash)
    if key is None:
        return []
    team = None if key.team_id is None else await get_team(ctx.db, key.team_id)
    team_models = list(team.models) if team is not None else []
    groups = await _group_members(ctx.db, deployments)
    if key.models:  # get_key_models: the key's list decides
        names = list(key.models)
        if _ALL_TEAM_MODELS in names:
            names = team_models or ["all-proxy-models"]  # a team without a list: all
        allowed = _expand(names, groups)
    elif team_models:  # get_team_models
        allowed = _expand(team_models, groups)
    else:
        return list(deployments)
    return [d for d in deployments if _admits(allowed, d.model_name)]
