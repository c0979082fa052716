"""Enforcement from the policy snapshot: key lookup, LiteLLM's refusals, model access."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from tianji_common.bus import MemoryBroker, MemoryBus
from tianji_common.errors import AuthError, PermissionDenied
from tianji_common.nats_names import POLICY_CHANGED_SUBJECT
from tianji_common.policy import (
    KeyPolicy,
    PolicyChanged,
    PolicySnapshot,
    TeamPolicy,
    encode_policy,
)

from tianji_gateway.auth import Authenticator, Principal, hash_key
from tianji_gateway.policy import GatewayPolicy, PolicyStore, SnapshotKeyResolver
from tianji_gateway.policy.guard import authorize_model, visible_models

MASTER = "sk-0123456789abcdef-master"
KEY = "sk-virtual-key-0001"
TOKEN = hash_key(KEY)


def store_with(
    *keys: KeyPolicy, teams: tuple[TeamPolicy, ...] = (), version: int = 1
) -> PolicyStore:
    store = PolicyStore()
    store.replace(
        PolicySnapshot(
            version=version,
            keys={k.token: k for k in keys},
            teams={t.team_id: t for t in teams},
        )
    )
    return store


def auth_for(store: PolicyStore) -> Authenticator:
    return Authenticator(MASTER, keys=SnapshotKeyResolver(store))


@pytest.mark.parametrize("header", ["authorization", "x-api-key", "api-key"])
def test_virtual_key_in_each_header(header: str) -> None:
    store = store_with(KeyPolicy(token=TOKEN, user_id="u1", team_id=None, key_alias="a"))
    value = f"Bearer {KEY}" if header == "authorization" else KEY
    principal = auth_for(store).authenticate({header: value})
    assert principal == Principal(key_hash=TOKEN, is_admin=False, user_id="u1", key_alias="a")


def test_unknown_key_is_401_with_litellm_text() -> None:
    with pytest.raises(AuthError, match="Unable to find token in cache") as info:
        auth_for(store_with()).authenticate({"authorization": f"Bearer {KEY}"})
    assert info.value.http_status == 401
    assert KEY not in info.value.message


def test_blocked_key_is_401_with_litellm_text() -> None:
    store = store_with(KeyPolicy(token=TOKEN, blocked=True))
    with pytest.raises(AuthError) as info:
        auth_for(store).authenticate({"x-api-key": KEY})
    assert info.value.message == (
        "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin."
    )


def test_expired_key_is_401_naming_both_times() -> None:
    expired = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime(2026, 1, 2, tzinfo=UTC)
    store = store_with(KeyPolicy(token=TOKEN, key_name="sk-...0001", expires=expired))
    resolver = SnapshotKeyResolver(store, now=lambda: now)
    with pytest.raises(AuthError) as info:
        resolver.resolve(TOKEN)
    assert info.value.message == (
        f"Authentication Error - Expired Key. Key Expiry time {expired} and current time {now}"
    )
    assert info.value.body().error.type == "expired_key"
    assert info.value.http_status == 401


def test_key_expiring_later_is_accepted() -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    store = store_with(KeyPolicy(token=TOKEN, expires=later))
    assert SnapshotKeyResolver(store).resolve(TOKEN) is not None


def test_blocked_team_refuses_its_keys() -> None:
    store = store_with(
        KeyPolicy(token=TOKEN, team_id="t1"), teams=(TeamPolicy(team_id="t1", blocked=True),)
    )
    with pytest.raises(AuthError, match=r"Team=t1 is blocked. Update via `/team/unblock`"):
        SnapshotKeyResolver(store).resolve(TOKEN)


def test_master_key_still_works_and_is_admin() -> None:
    principal = auth_for(store_with()).authenticate({"authorization": f"Bearer {MASTER}"})
    assert principal.is_admin


def _principal(team_id: str | None = None) -> Principal:
    return Principal(key_hash=TOKEN, is_admin=False, team_id=team_id)


def test_model_outside_the_key_list_is_403_with_litellm_text() -> None:
    store = store_with(KeyPolicy(token=TOKEN, models=["gpt-4o-mini", "claude"]))
    assert authorize_model(store, _principal(), "gpt-4o-mini") == "gpt-4o-mini"
    with pytest.raises(PermissionDenied) as info:
        authorize_model(store, _principal(), "gpt-4o")
    assert info.value.http_status == 403
    assert info.value.message == (
        "key not allowed to access model. This key can only access "
        "models=['gpt-4o-mini', 'claude']. Tried to access gpt-4o"
    )


@pytest.mark.parametrize("models", [[], ["*"], ["all-proxy-models"], ["openai/*"]])
def test_open_model_lists(models: list[str]) -> None:
    store = store_with(KeyPolicy(token=TOKEN, models=models))
    assert authorize_model(store, _principal(), "openai/gpt-x") == "openai/gpt-x"


def test_key_aliases_map_the_requested_model() -> None:
    store = store_with(
        KeyPolicy(token=TOKEN, models=["gpt-4o-mini"], aliases={"small": "gpt-4o-mini"})
    )
    assert authorize_model(store, _principal(), "small") == "gpt-4o-mini"


def test_team_models_apply_to_its_keys() -> None:
    store = store_with(
        KeyPolicy(token=TOKEN, team_id="t1"), teams=(TeamPolicy(team_id="t1", models=["a"]),)
    )
    assert authorize_model(store, _principal("t1"), "a") == "a"
    with pytest.raises(PermissionDenied, match="team not allowed to access model"):
        authorize_model(store, _principal("t1"), "b")


def test_admin_may_call_anything() -> None:
    store = store_with(KeyPolicy(token=TOKEN, models=["a"]))
    admin = Principal(key_hash=hash_key(MASTER), is_admin=True)
    assert authorize_model(store, admin, "zzz") == "zzz"


def test_visible_models_follow_key_team_and_aliases() -> None:
    store = store_with(
        KeyPolicy(token=TOKEN, team_id="t1", models=["a", "b"], aliases={"short": "a"}),
        teams=(TeamPolicy(team_id="t1", models=["a", "c"]),),
    )
    assert visible_models(store, _principal("t1"), ["a", "b", "c"]) == ["a", "short"]


def test_store_applies_changes_in_order_and_reports_gaps() -> None:
    store = store_with(KeyPolicy(token="k1"), version=3)
    add = PolicyChanged(event_id="e", occurred_at=0, version=4, keys={"k2": KeyPolicy(token="k2")})
    assert store.apply(add) and set(store.keys) == {"k1", "k2"}
    assert store.apply(add)  # at or below: already in
    delete = PolicyChanged(event_id="e", occurred_at=0, version=5, keys={"k1": None})
    gap = PolicyChanged(event_id="e", occurred_at=0, version=7, keys={"k3": KeyPolicy(token="k3")})
    assert not store.apply(gap) and "k3" not in store.keys and store.version == 4
    assert store.apply(delete) and set(store.keys) == {"k2"} and store.version == 5


def test_lookup_and_check_cost_is_far_below_50_microseconds() -> None:
    keys = [KeyPolicy(token=f"{n:064x}", models=["a", "b"]) for n in range(10_000)]
    store = store_with(*keys, KeyPolicy(token=TOKEN, models=["gpt-4o-mini"]))
    auth = auth_for(store)
    headers = {"authorization": f"Bearer {KEY}"}
    rounds = 20_000
    start = time.perf_counter()
    for _ in range(rounds):
        principal = auth.authenticate(headers)
        authorize_model(store, principal, "gpt-4o-mini")
    per_call = (time.perf_counter() - start) / rounds
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} µs per request"


class _Source:
    """A control plane stand-in: a snapshot to serve and a bus to announce on."""

    def __init__(self) -> None:
        self.snapshot = PolicySnapshot(version=0)
        self.fetches = 0

    async def fetch(self) -> bytes:
        self.fetches += 1
        return encode_policy(self.snapshot)


async def _until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_sync_loads_then_follows_then_reloads_on_a_gap() -> None:
    broker = MemoryBroker()
    control, gateway = MemoryBus(broker), MemoryBus(broker)
    source = _Source()
    source.snapshot = PolicySnapshot(version=2, keys={"k1": KeyPolicy(token="k1")})
    policy = GatewayPolicy.create(source.fetch, gateway)
    await policy.start()
    try:
        await _until(lambda: policy.loaded)
        assert set(policy.store.keys) == {"k1"}

        change = PolicyChanged(
            event_id="a", occurred_at=0, version=3, keys={"k2": KeyPolicy(token="k2")}
        )
        await control.broadcast(POLICY_CHANGED_SUBJECT, encode_policy(change))
        await _until(lambda: policy.store.version == 3)
        assert set(policy.store.keys) == {"k1", "k2"}

        # Version 4 is lost; the snapshot has it. Event 5 reveals the gap.
        source.snapshot = PolicySnapshot(
            version=5, keys={"k2": KeyPolicy(token="k2"), "k4": KeyPolicy(token="k4")}
        )
        later = PolicyChanged(
            event_id="b", occurred_at=0, version=5, keys={"k4": KeyPolicy(token="k4")}
        )
        await control.broadcast(POLICY_CHANGED_SUBJECT, encode_policy(later))
        await _until(lambda: policy.store.version == 5)
        assert set(policy.store.keys) == {"k2", "k4"}
        assert source.fetches == 2
    finally:
        await policy.close()
        await gateway.close()


async def test_sync_retries_until_the_control_plane_answers() -> None:
    calls = 0

    async def flaky() -> bytes:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("control plane not up yet")
        return encode_policy(PolicySnapshot(version=1))

    policy = GatewayPolicy.create(flaky, None)
    await policy.start()
    try:
        await _until(lambda: policy.loaded)
        assert calls == 3
    finally:
        await policy.close()
