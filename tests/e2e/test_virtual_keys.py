"""Virtual keys end to end: `/key/*` on the control plane, enforced by the gateway.

All-in-one (`tianji up`, in-process bus) and split (a control plane and two gateway
replicas over NATS) run the same path: the gateway loads the policy snapshot, then
follows change events; a block must reach every gateway within a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.proc import TianjiProcess

pytestmark = pytest.mark.e2e

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
MESSAGES = [{"role": "user", "content": "hi"}]


def sdk(base: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


def generate_key(control: str, **body: object) -> str:
    r = httpx.post(f"{control}/key/generate", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def set_blocked(control: str, key: str, *, blocked: bool) -> None:
    path = "/key/block" if blocked else "/key/unblock"
    r = httpx.post(f"{control}{path}", json={"key": key}, headers=ADMIN)
    assert r.status_code == 200, r.text


def chat_status(base: str, key: str, model: str = "gpt-4o-mini") -> int:
    try:
        sdk(base, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
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


def test_all_in_one_key_lifecycle(tianji: TianjiProcess) -> None:
    key = generate_key(tianji.base, models=["gpt-4o-mini"], key_alias="e2e")
    # The gateway learns of the key through the change event.
    within(1.0, lambda: chat_status(tianji.base, key) == 200)

    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(tianji.base, key).chat.completions.create(model="claude", messages=MESSAGES)  # type: ignore[arg-type]
    assert "key not allowed to access model" in str(denied.value)
    assert "Tried to access claude" in str(denied.value)

    listed = [m.id for m in sdk(tianji.base, key).models.list()]
    assert listed == ["gpt-4o-mini"]

    set_blocked(tianji.base, key, blocked=True)
    within(1.0, lambda: chat_status(tianji.base, key) == 401)
    with pytest.raises(openai.AuthenticationError, match="Key is blocked"):
        sdk(tianji.base, key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    set_blocked(tianji.base, key, blocked=False)
    within(1.0, lambda: chat_status(tianji.base, key) == 200)


def test_all_in_one_refuses_unknown_keys_and_virtual_keys_on_admin_routes(
    tianji: TianjiProcess,
) -> None:
    assert chat_status(tianji.base, "sk-not-a-real-key-000") == 401
    key = generate_key(tianji.base)
    r = httpx.post(f"{tianji.base}/key/generate", json={}, headers={"x-api-key": key})
    assert r.status_code == 403


def test_all_in_one_team_models_and_block_apply_to_its_keys(tianji: TianjiProcess) -> None:
    r = httpx.post(f"{tianji.base}/team/new", json={"models": ["embed", "claude"]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    team_id = r.json()["team_id"]
    key = generate_key(tianji.base, team_id=team_id)
    within(1.0, lambda: chat_status(tianji.base, key, model="gpt-4o-mini") == 403)
    listed = sorted(m.id for m in sdk(tianji.base, key).models.list())
    assert listed == ["claude", "embed"]

    r = httpx.post(f"{tianji.base}/team/block", json={"team_id": team_id}, headers=ADMIN)
    assert r.status_code == 200
    within(1.0, lambda: chat_status(tianji.base, key, model="claude") == 401)
    with pytest.raises(openai.AuthenticationError, match=f"Team={team_id} is blocked"):
        sdk(tianji.base, key).chat.completions.create(model="claude", messages=MESSAGES)  # type: ignore[arg-type]
