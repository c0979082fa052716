"""Model access and end users, checked against the policy store before routing.

Model access (LiteLLM's rules, `policy.access`): the key's `models`, then its team's,
then (for a personal key, no team) its user's, then the organization's (the key's,
else its team's) must each admit the model. Any list may name model access groups;
`all-team-models` on a key means its team's list. The key's `aliases` apply first,
then the team's `model_aliases`; a list admits the model if it names the requested
name or what it maps to. A refusal is 403 naming the model, with LiteLLM's text
("key not allowed to access model. This key can only access models=[...]. Tried to
access X"). Note: LiteLLM itself answers this with 401 (type
`key_model_access_denied`); issue 3 asks for 403, a valid caller without the right.

End users (the body's `user`, LiteLLM's customers): a body without `model` gets the
end user's `default_model`; a blocked one is refused with LiteLLM's 400 "User
blocked from making LLM API Calls. User={user}" (its `blocked_user_check` text, for
master key and virtual keys alike); an `allowed_model_region` restricts routing to
deployments in that region (`routing.region`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tianji_common.errors import InvalidRequest, PermissionDenied

from tianji_gateway.pipeline import Complete, Pipeline, Streaming
from tianji_gateway.policy.access import ALL_TEAM_MODELS, EVERYTHING, Allowed
from tianji_gateway.routing.region import ALLOWED_REGION

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tianji_common.policy import CustomerPolicy, KeyPolicy, TeamPolicy

    from tianji_gateway.auth import Principal
    from tianji_gateway.policy.store import PolicyStore
    from tianji_gateway.providers.base import Op
    from tianji_gateway.request import ParsedRequest

__all__ = [
    "CustomerBlocked",
    "GuardedPipeline",
    "ModelDenied",
    "authorize_model",
    "check_customer",
    "visible_models",
]


class ModelDenied(PermissionDenied):
    """LiteLLM's `key_model_access_denied` (team/user/org ones are told by `code`)."""

    type = "key_model_access_denied"


class CustomerBlocked(InvalidRequest):
    """A blocked end user (`/customer/block`)."""


def _deny(kind: str, models: list[str], requested: str) -> ModelDenied:
    return ModelDenied(
        f"{kind} not allowed to access model. This {kind} can only access "
        f"models={models}. Tried to access {requested}",
        param="model",
        code=None if kind == "key" else f"{kind}_model_access_denied",
    )


def _key_allowed(store: PolicyStore, key: KeyPolicy, team: TeamPolicy | None) -> Allowed:
    models = key.models
    if ALL_TEAM_MODELS in models:
        rest = [m for m in models if m != ALL_TEAM_MODELS]
        if team is None or not team.models:
            return EVERYTHING
        models = [*rest, *team.models]
    return store.allowed(models)


def _targets(key: KeyPolicy, team: TeamPolicy | None, requested: str) -> tuple[str, ...]:
    """The requested name, then what the key's and the team's aliases map it to."""
    via_key = key.aliases.get(requested, requested) if key.aliases else requested
    via_team = (
        team.model_aliases.get(via_key, via_key)
        if team is not None and team.model_aliases
        else via_key
    )
    if via_team == requested:
        return (requested,)
    return (requested, via_key, via_team) if via_key != via_team else (requested, via_team)


def authorize_model(store: PolicyStore, principal: Principal, requested: str) -> str:
    """The model to route to (after the key's and team's aliases), or 403."""
    if principal.is_admin or principal.key_hash is None:
        return requested
    key = store.keys.get(principal.key_hash)
    if key is None:  # deleted since authentication: the next request gets the 401
        return requested
    team = store.teams.get(key.team_id) if key.team_id is not None else None
    names = _targets(key, team, requested)
    if key.models and not _key_allowed(store, key, team).any_of(names):
        raise _deny("key", key.models, requested)
    if team is not None and team.models and not store.allowed(team.models).any_of(names):
        raise _deny("team", team.models, requested)
    if key.team_id is None and key.user_id is not None:  # a personal key
        user = store.users.get(key.user_id)
        if user is not None and user.models and not store.allowed(user.models).any_of(names):
            raise _deny("user", user.models, requested)
    org_id = key.org_id or (team.org_id if team is not None else None)
    org = store.orgs.get(org_id) if org_id is not None else None
    if org is not None and org.models and not store.allowed(org.models).any_of(names):
        raise _deny("org", org.models, requested)
    return names[-1]


def check_customer(store: PolicyStore, user: str | None) -> CustomerPolicy | None:
    """The end user named by the body's `user`, or 400 if they are blocked."""
    if not user:
        return None
    customer = store.customers.get(user)
    if customer is not None and customer.blocked:
        raise CustomerBlocked(f"User blocked from making LLM API Calls. User={user}")
    return customer


def visible_models(store: PolicyStore, principal: Principal, names: Iterable[str]) -> list[str]:
    """The model names `/v1/models` shows this caller: only what it may call.

    Key aliases and team `model_aliases` are listed too when what they map to is
    callable, as LiteLLM lists a key's aliases.
    """
    names = list(names)
    if principal.is_admin or principal.key_hash is None:
        return names
    key = store.keys.get(principal.key_hash)
    if key is None:
        return []
    team = store.teams.get(key.team_id) if key.team_id is not None else None
    candidates = dict.fromkeys(names)
    candidates.update(dict.fromkeys(key.aliases))
    if team is not None:
        candidates.update(dict.fromkeys(team.model_aliases))
    known = set(names)
    shown: list[str] = []
    for name in candidates:
        try:
            target = authorize_model(store, principal, name)
        except ModelDenied:
            continue
        if target in known:
            shown.append(name)
    return shown


class GuardedPipeline(Pipeline):
    """The pipeline behind the end-user and model-access checks and the aliases.

    Why a delegating subclass: `GatewayState` holds a `Pipeline`, and the checks must
    run after auth and parsing but before routing, on every path (Litestar handlers
    and the raw fast path both call `pipeline.run`).
    """

    def __init__(self, inner: Pipeline, store: PolicyStore) -> None:
        # The inner pipeline does all the work; nothing of Pipeline.__init__ is needed.
        self._inner = inner
        self._store = store

    def authorize(self, principal: Principal, parsed: ParsedRequest) -> CustomerPolicy | None:
        """Check the end user and the model; alias `parsed.model` in place."""
        customer = check_customer(self._store, parsed.user)
        if not parsed.has_model and customer is not None and customer.default_model:
            parsed.model = customer.default_model
        # Still no model: reading it answers LiteLLM's 400 (`request.ParsedRequest`).
        parsed.model = authorize_model(self._store, principal, parsed.model)
        return customer

    async def run(
        self, op: Op, principal: Principal, parsed: ParsedRequest
    ) -> Complete | Streaming:
        """Check (and alias) the model, then run the real pipeline."""
        customer = self.authorize(principal, parsed)
        region = customer.allowed_model_region if customer is not None else None
        if region is None:
            return await self._inner.run(op, principal, parsed)
        token = ALLOWED_REGION.set(region)
        try:
            return await self._inner.run(op, principal, parsed)
        finally:
            ALLOWED_REGION.reset(token)
