"""Rate limits and budgets through the whole request path, counters in memory (one replica)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from tests.support.fake_upstream import FakeUpstream
from tests.support.limits_gateway import (
    MASTER,
    LimitsGateway,
    Refused,
    away_from_window_edge,
    key_hash,
    spend_update,
)
from tianji_common.nats_names import POLICY_CHANGED_SUBJECT
from tianji_common.policy import (
    BudgetPolicy,
    CustomerPolicy,
    KeyPolicy,
    OrgPolicy,
    PolicyChanged,
    PolicySnapshot,
    TeamPolicy,
    UserPolicy,
    encode_policy,
)

from tianji_gateway.pipeline import Complete, Streaming

K1, K2 = "sk-limits-key-one-000001", "sk-limits-key-two-000002"
H1, H2 = key_hash(K1), key_hash(K2)
# The fake answers 11 prompt and 7 completion tokens; `priced` costs 0.001 per input and
# 0.002 per output token, so one answer costs 0.025 USD. Streams: 9 + 6 tokens, 0.021.
ONE = Decimal("0.025")


def config(upstream: FakeUpstream) -> str:
    base = f"{upstream.base}/v1"
    priced = "input_cost_per_token: 0.001, output_cost_per_token: 0.002"
    return f"""
model_list:
  - model_name: priced
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: k, {priced}}}
  - model_name: free
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: k}}
  - model_name: broken
    litellm_params: {{model: openai/m-500, api_base: "{base}", api_key: k, num_retries: 0}}
  - model_name: hangs
    litellm_params: {{model: openai/m-hang, api_base: "{base}", api_key: k, timeout: 30}}
  - model_name: dep
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: a, rpm: 1}}
  - model_name: dep
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: b, rpm: 1}}
  - model_name: half
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: a, tpm: 10}}
  - model_name: half
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: b}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def gateway(upstream: FakeUpstream, **sections: object) -> LimitsGateway:
    return LimitsGateway(config(upstream), PolicySnapshot(version=1, **sections))  # type: ignore[arg-type]  # sections are the snapshot's dicts


def keys(*policies: KeyPolicy) -> dict[str, KeyPolicy]:
    return {p.token: p for p in policies}


async def ok(gw: LimitsGateway, key: str, model: str = "priced", **kw: object) -> Complete:
    result = await gw.chat(key, model, **kw)  # type: ignore[arg-type]  # test helper passthrough
    assert isinstance(result, Complete)
    assert result.status == 200
    return result


async def refused(gw: LimitsGateway, key: str, model: str = "priced", **kw: object) -> Refused:
    with pytest.raises(Refused) as info:
        await gw.chat(key, model, **kw)  # type: ignore[arg-type]  # test helper passthrough
    return info.value


async def test_rpm_per_key_headers_then_429_with_retry_after(upstream: FakeUpstream) -> None:
    away_from_window_edge()
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1, rpm_limit=3))) as gw:
        remaining = []
        for _ in range(3):
            res = await ok(gw, K1)
            assert res.headers["x-ratelimit-limit-requests"] == "3"
            assert res.headers["x-ratelimit-api_key-limit-requests"] == "3"
            remaining.append(res.headers["x-ratelimit-remaining-requests"])
        assert remaining == ["2", "1", "0"]
        err = await refused(gw, K1)
        assert err.status == 429
        assert 1 <= int(err.headers["retry-after"]) <= 60
        assert err.message.startswith(
            f"Rate limit exceeded for api_key: {H1}. Limit type: requests. "
            "Current limit: 3, Remaining: 0. Limit resets at: "
        )
        assert err.body["error"]["type"] == "rate_limit_error"


async def test_tpm_counts_the_tokens_of_answers(upstream: FakeUpstream) -> None:
    away_from_window_edge()
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1, tpm_limit=30))) as gw:
        first = await ok(gw, K1)
        assert first.headers["x-ratelimit-limit-tokens"] == "30"
        assert first.headers["x-ratelimit-remaining-tokens"] == "30"
        second = await ok(gw, K1)  # 18 used, under 30
        assert second.headers["x-ratelimit-remaining-tokens"] == "12"
        err = await refused(gw, K1)  # 36 used
        assert err.status == 429
        assert "Limit type: tokens" in err.message


async def test_team_rpm_is_shared_by_its_keys_and_other_teams_are_apart(
    upstream: FakeUpstream,
) -> None:
    away_from_window_edge()
    async with gateway(
        upstream,
        keys=keys(KeyPolicy(token=H1, team_id="t1"), KeyPolicy(token=H2, team_id="t1")),
        teams={"t1": TeamPolicy(team_id="t1", rpm_limit=2)},
    ) as gw:
        await ok(gw, K1)
        await ok(gw, K2)
        err = await refused(gw, K1)
        assert "Rate limit exceeded for team: t1." in err.message
        await ok(gw, MASTER)  # the master key is no member of t1


async def test_user_and_end_user_limits(upstream: FakeUpstream) -> None:
    away_from_window_edge()
    async with gateway(
        upstream,
        keys=keys(KeyPolicy(token=H1, user_id="u1"), KeyPolicy(token=H2)),
        users={"u1": UserPolicy(user_id="u1", rpm_limit=1)},
        customers={
            "cust": CustomerPolicy(user_id="cust", budget=BudgetPolicy(budget_id="b", rpm_limit=1))
        },
    ) as gw:
        await ok(gw, K1)
        assert "for user: u1." in (await refused(gw, K1)).message
        await ok(gw, K2, user="cust")
        assert "for end_user: cust." in (await refused(gw, K2, user="cust")).message
        await ok(gw, K2, user="someone-else")


async def test_parallel_slots_come_back_on_every_exit(upstream: FakeUpstream) -> None:
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1, max_parallel_requests=1))) as gw:
        # Held by an open stream: a second request is refused.
        stream = await gw.chat(K1, stream=True)
        assert isinstance(stream, Streaming)
        err = await refused(gw, K1)
        assert err.status == 429
        assert "Limit type: max_parallel_requests" in err.message
        assert err.headers["retry-after"] == "1"
        # Client disconnect after the first chunk.
        assert await stream.body.__anext__()
        await stream.body.aclose()  # type: ignore[attr-defined]  # the body is closable
        # Disconnect before the first byte.
        # Dropped before the first byte (the body is never stepped, its generator never
        # runs its `finally`): the slot still comes back when the body is released.
        stream = await gw.chat(K1, stream=True)
        assert isinstance(stream, Streaming)
        await stream.body.aclose()  # type: ignore[attr-defined]  # the body is closable
        del stream
        await asyncio.sleep(0)
        # A stream read to its end.
        stream = await gw.chat(K1, stream=True)
        assert isinstance(stream, Streaming)
        chunks = [c async for c in stream.body]
        assert chunks[-1] == b"data: [DONE]\n\n"
        # An upstream failure.
        assert (await refused(gw, K1, "broken")).status == 500
        # A caller cancelled while upstream hangs.
        task = asyncio.create_task(gw.chat(K1, "hangs"))
        await asyncio.sleep(0.2)
        assert (await refused(gw, K1)).status == 429  # the hanging call holds the slot
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Nothing leaked: one slot, and it is free.
        for _ in range(3):
            await ok(gw, K1)


async def test_over_budget_is_refused_with_litellms_message(upstream: FakeUpstream) -> None:
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1, max_budget=1.0, spend=1.0))) as gw:
        err = await refused(gw, K1)
        assert err.status == 429
        assert err.headers["x-should-retry"] == "false"
        assert err.body["error"]["type"] == "budget_exceeded"
        assert err.message == "Budget has been exceeded! Current cost: 1.0, Max budget: 1.0"
        # Spend at the budget refuses every model, priced or not (LiteLLM's `>=`).
        assert (await refused(gw, K1, "free")).status == 429


async def test_reservations_then_settled_spend_then_confirmed_spend(
    upstream: FakeUpstream,
) -> None:
    # max_tokens 7 reserves 9 * 0.001 + 7 * 0.002 = 0.023 per request.
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1, max_budget=0.06))) as gw:
        await ok(gw, K1, max_tokens=7)
        await ok(gw, K1, max_tokens=7)  # 0.025 settled + 0.023 reserved <= 0.06
        err = await refused(gw, K1, max_tokens=7)  # 0.05 + 0.023 > 0.06
        assert err.message == "Budget has been exceeded! Current cost: 0.05, Max budget: 0.06"
        # The spend-worker confirms the two requests: counted once, not twice.
        await gw.spend_updated(spend_update(5, ("key", H1, "0.05")))
        err = await refused(gw, K1, max_tokens=7)
        assert "Current cost: 0.05," in err.message
        # A stale update (lower seq) changes nothing; a budget reset frees the key.
        await gw.spend_updated(spend_update(3, ("key", H1, "0")))
        await refused(gw, K1, max_tokens=7)
        await gw.spend_updated(spend_update(6, ("key", H1, "0")))
        await ok(gw, K1, max_tokens=7)


async def test_owner_budgets_name_the_owner(upstream: FakeUpstream) -> None:
    async with gateway(
        upstream,
        keys=keys(
            KeyPolicy(token=H1, team_id="t1", user_id="u1"),
            KeyPolicy(token=H2, org_id="o1"),
        ),
        teams={"t1": TeamPolicy(team_id="t1", max_budget=5.0, spend=5.0)},
        users={"u1": UserPolicy(user_id="u1", max_budget=100.0)},
        orgs={"o1": OrgPolicy(org_id="o1", max_budget=0.01)},
    ) as gw:
        msg = (await refused(gw, K1)).message
        assert msg == "Budget has been exceeded! Team=t1 Current cost: 5.0, Max budget: 5.0"
        msg = (await refused(gw, K2)).message
        assert msg == "Budget has been exceeded! Org=o1 Current cost: 0.0, Max budget: 0.01"


async def test_end_user_and_model_budgets(upstream: FakeUpstream) -> None:
    async with gateway(
        upstream,
        keys=keys(KeyPolicy(token=H1, model_max_budget={"priced": 0.04})),
        customers={
            "c": CustomerPolicy(
                user_id="c", spend=3.0, budget=BudgetPolicy(budget_id="b", max_budget=3.0)
            )
        },
    ) as gw:
        await ok(gw, K1, max_tokens=7)  # 0.025 spent on `priced`
        msg = (await refused(gw, K1, max_tokens=7)).message
        assert msg == "Budget has been exceeded! Model=priced Current cost: 0.025, Max budget: 0.04"
        await ok(gw, K1, "free")
        msg = (await refused(gw, MASTER, "free", user="c")).message
        assert msg == "Budget has been exceeded! End User=c Current cost: 3.0, Max budget: 3.0"


async def test_concurrent_requests_overshoot_by_at_most_in_flight_reservations(
    upstream: FakeUpstream,
) -> None:
    budget = Decimal("0.2")
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1, max_budget=float(budget)))) as gw:
        results = await asyncio.gather(
            *(gw.chat(K1, "priced", max_tokens=7) for _ in range(50)), return_exceptions=True
        )
        admitted = sum(isinstance(r, Complete) for r in results)
        assert all(isinstance(r, Complete | Refused) for r in results)
        spent = admitted * ONE
        # Each admitted request reserved 0.023 and cost 0.025: the overshoot bound is
        # what in-flight requests can exceed their reservations by.
        assert spent <= budget + admitted * (ONE - Decimal("0.023"))
        assert admitted >= 7  # the budget was not refused early either


async def test_full_deployments_are_skipped_then_429(upstream: FakeUpstream) -> None:
    away_from_window_edge()
    async with gateway(upstream) as gw:
        first = await ok(gw, MASTER, "dep")
        second = await ok(gw, MASTER, "dep")
        assert first.headers["x-litellm-model-id"] != second.headers["x-litellm-model-id"]
        err = await refused(gw, MASTER, "dep")
        assert err.status == 429
        assert "No deployments available" in err.message
        assert int(err.headers["retry-after"]) >= 1
        # A group with an unlimited deployment never runs out.
        picked = {(await ok(gw, MASTER, "half")).headers["x-litellm-model-id"] for _ in range(8)}
        assert len(picked) == 2
        for _ in range(8):
            await ok(gw, MASTER, "half")


async def test_no_limits_means_no_rate_headers(upstream: FakeUpstream) -> None:
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1))) as gw:
        res = await ok(gw, K1)
        assert not [h for h in res.headers if h.startswith("x-ratelimit")]
        res = await ok(gw, MASTER)
        assert not [h for h in res.headers if h.startswith("x-ratelimit")]


async def test_a_reloaded_snapshot_confirms_settled_spend_once(upstream: FakeUpstream) -> None:
    async with gateway(upstream, keys=keys(KeyPolicy(token=H1, max_budget=0.06))) as gw:
        await ok(gw, K1, max_tokens=7)
        await ok(gw, K1, max_tokens=7)
        # The control plane re-sends the key with the spend the spend-worker committed.
        changed = KeyPolicy(token=H1, max_budget=0.06, spend=0.05)
        await gw.bus.broadcast(
            POLICY_CHANGED_SUBJECT,
            encode_policy(
                PolicyChanged(event_id="e", occurred_at=0, version=2, keys={H1: changed})
            ),
        )
        await asyncio.sleep(1.3)  # the limiter looks at snapshot spend every second
        err = await refused(gw, K1, max_tokens=7)
        assert err.message == "Budget has been exceeded! Current cost: 0.05, Max budget: 0.06"
        # Raised above the settled spend (another replica spent too): that counts in full.
        changed = KeyPolicy(token=H1, max_budget=0.09, spend=0.07)
        await gw.bus.broadcast(
            POLICY_CHANGED_SUBJECT,
            encode_policy(
                PolicyChanged(event_id="f", occurred_at=0, version=3, keys={H1: changed})
            ),
        )
        await asyncio.sleep(1.3)
        assert "Current cost: 0.07," in (await refused(gw, K1, max_tokens=7)).message
