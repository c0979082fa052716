"""The whole policy snapshot enforced by the gateway, changed live through the API.

`tianji up` (in-process bus) with a fake vendor, driven by the official `openai` SDK:
access groups, blocked customers, customers' regions and DB models (`/model/new`)
created or changed through the management API must change what the gateway does
within a second, without a restart and without the gateway touching the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
MESSAGES = [{"role": "user", "content": "hi"}]


def _config(upstream: FakeUpstream) -> str:
    base = f"{upstream.base}/v1"
    return f"""
model_list:
  - model_name: beta-a
    litellm_params: {{model: openai/beta-a-ok, api_base: "{base}", api_key: k}}
  - model_name: beta-b
    litellm_params: {{model: openai/beta-b-ok, api_base: "{base}", api_key: k}}
  - model_name: regional
    litellm_params: {{model: openai/eu-ok, api_base: "{base}", api_key: k, region_name: eu}}
  - model_name: regional
    litellm_params: {{model: openai/us-ok, api_base: "{base}", api_key: k, region_name: us}}
  - model_name: us-only
    litellm_params: {{model: openai/us-only-ok, api_base: "{base}", api_key: k,
                      region_name: us}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-ok, api_base: "{upstream.base}",
                      api_key: k}}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def tianji(upstream: FakeUpstream) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=_config(upstream))
    yield proc
    proc.stop()


def sdk(base: str, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


def admin(base: str, method: str, path: str, body: object | None = None) -> dict[str, object]:
    r = httpx.request(method, f"{base}{path}", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    out = r.json()
    assert isinstance(out, dict)
    return out


def chat(base: str, model: str, key: str = MASTER_KEY, user: str | None = None) -> int:
    try:
        sdk(base, key).chat.completions.create(
            model=model,
            messages=MESSAGES,  # type: ignore[arg-type]
            user=user if user is not None else openai.omit,
        )
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def within(seconds: float, check: Callable[[], bool]) -> float:
    """Poll `check` until true; return how long it took (fails after `seconds`)."""
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        assert elapsed < seconds, f"not within {seconds}s"
        time.sleep(0.02)
    return time.monotonic() - start


def test_access_group_grants_and_changes_live(tianji: TianjiProcess) -> None:
    base = tianji.base
    admin(base, "POST", "/access_group/new", {"access_group": "beta", "model_names": ["beta-a"]})
    key = str(admin(base, "POST", "/key/generate", {"models": ["beta"]})["key"])
    within(1.0, lambda: chat(base, "beta-a", key) == 200)

    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(base, key).chat.completions.create(model="beta-b", messages=MESSAGES)  # type: ignore[arg-type]
    assert "Tried to access beta-b" in str(denied.value)
    assert [m.id for m in sdk(base, key).models.list()] == ["beta-a"]

    # count_tokens checks model access as chat does.
    r = httpx.post(
        f"{base}/v1/messages/count_tokens",
        json={"model": "claude", "messages": MESSAGES},
        headers={"x-api-key": key},
    )
    assert r.status_code == 403, r.text
    assert "Tried to access claude" in r.text

    admin(base, "PUT", "/access_group/beta/update", {"model_names": ["beta-a", "beta-b"]})
    within(1.0, lambda: chat(base, "beta-b", key) == 200)
    assert sorted(m.id for m in sdk(base, key).models.list()) == ["beta-a", "beta-b"]


def test_blocked_customer_is_refused_then_unblocked(tianji: TianjiProcess) -> None:
    base = tianji.base
    assert chat(base, "beta-a", user="cust-block") == 200
    admin(base, "POST", "/customer/new", {"user_id": "cust-block"})
    admin(base, "POST", "/customer/block", {"user_ids": ["cust-block"]})
    within(1.0, lambda: chat(base, "beta-a", user="cust-block") == 400)
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(base).chat.completions.create(model="beta-a", messages=MESSAGES, user="cust-block")  # type: ignore[arg-type]
    assert "User blocked from making LLM API Calls. User=cust-block" in str(refused.value)
    assert chat(base, "beta-a", user="someone-else") == 200

    admin(base, "POST", "/customer/unblock", {"user_ids": ["cust-block"]})
    within(1.0, lambda: chat(base, "beta-a", user="cust-block") == 200)


def test_customer_region_restricts_deployments(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    base = tianji.base
    admin(base, "POST", "/customer/new", {"user_id": "cust-eu", "allowed_model_region": "eu"})
    within(1.0, lambda: chat(base, "us-only", user="cust-eu") == 400)
    with pytest.raises(openai.BadRequestError, match="allowed_model_region=eu"):
        sdk(base).chat.completions.create(model="us-only", messages=MESSAGES, user="cust-eu")  # type: ignore[arg-type]
    for _ in range(8):
        before = len(upstream.requests)
        assert chat(base, "regional", user="cust-eu") == 200
        sent = [r.body.get("model") for r in upstream.requests[before:]]
        assert sent == ["eu-ok"], sent


def test_db_model_added_and_deleted_without_restart(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    base = tianji.base
    assert chat(base, "db-model") == 400  # not there yet
    created = admin(
        base,
        "POST",
        "/model/new",
        {
            "model_name": "db-model",
            "litellm_params": {
                "model": "openai/db-ok",
                "api_base": f"{upstream.base}/v1",
                "api_key": "sk-db-model-secret",
            },
        },
    )
    took = within(1.0, lambda: chat(base, "db-model") == 200)
    last = upstream.requests[-1]
    assert last.body["model"] == "db-ok"
    assert last.headers.get("authorization") == "Bearer sk-db-model-secret"
    assert "db-model" in [m.id for m in sdk(base).models.list()]

    info = created.get("model_info")
    model_id = created.get("model_id") or (info.get("id") if isinstance(info, dict) else None)
    assert model_id
    admin(base, "POST", "/model/delete", {"id": model_id})
    within(1.0, lambda: chat(base, "db-model") == 400)
    assert took < 1.0


def _chat_without_model(base: str, user: str | None) -> httpx.Response:
    body: dict[str, object] = {"messages": MESSAGES}
    if user is not None:
        body["user"] = user
    return httpx.post(f"{base}/v1/chat/completions", json=body, headers=ADMIN)


def test_customer_default_model_serves_a_request_without_model(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    base = tianji.base
    admin(base, "POST", "/customer/new", {"user_id": "cust-default", "default_model": "beta-b"})
    within(1.0, lambda: _chat_without_model(base, "cust-default").status_code == 200)
    before = len(upstream.requests)
    r = _chat_without_model(base, "cust-default")
    assert r.status_code == 200, r.text
    assert [q.body.get("model") for q in upstream.requests[before:]] == ["beta-b-ok"]
    for user in (None, "cust-no-default"):  # no default applies: the 400 as before
        r = _chat_without_model(base, user)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"] == "missing required parameter: 'model'"
        assert r.json()["error"]["param"] == "model"
    admin(base, "POST", "/customer/update", {"user_id": "cust-default", "default_model": None})
    within(1.0, lambda: _chat_without_model(base, "cust-default").status_code == 400)
