"""Process-level behaviour of `tianji up`: streaming timing, shutdown, usage, startup checks."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import MASTER_KEY, e2e_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess, start_tianji, tianji_bin

pytestmark = pytest.mark.e2e

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
PROMPT_MARKER = "confidential-prompt-text-4242"


def spend_rows(tp: TianjiProcess) -> list[tuple[str, str, str, int]]:
    db = tp.workdir / ".tianji" / "tianji.db"
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT request_id, model_group, status, total_tokens FROM tianji_spend_log"
        ).fetchall()


def wait_for(pred: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def fresh(upstream: FakeUpstream) -> object:
    procs: list[TianjiProcess] = []

    def start(**kw: object) -> TianjiProcess:
        tp = start_tianji(["up"], config_text=e2e_config(upstream), **kw)  # type: ignore[arg-type]
        procs.append(tp)
        return tp

    yield start
    for tp in procs:
        tp.stop(signal.SIGKILL)


def test_first_chunk_arrives_before_upstream_finishes(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    upstream._gate.clear()
    with httpx.stream(
        "POST",
        f"{tianji.base}/v1/chat/completions",
        headers=AUTH,
        timeout=20,
        json={"model": "gated", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        # The fake vendor is still blocked on the gate: it has not sent chunk 2 yet.
        assert '"role":"assistant"' in first.replace(" ", "")
        assert not upstream._gate.is_set()
        upstream.release_gate()
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"
    assert len(rest) >= 7


def test_one_usage_event_per_request_of_every_kind(fresh: object, upstream: FakeUpstream) -> None:
    tp = fresh()  # type: ignore[operator]
    c = openai.OpenAI(base_url=f"{tp.base}/v1", api_key=MASTER_KEY, max_retries=0)
    c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
    list(
        c.chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "b"}]
        )
    )
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="limited", messages=[{"role": "user", "content": "c"}])
    # Client disconnect mid-stream: read one event from a slow stream, then hang up.
    with httpx.stream(
        "POST",
        f"{tp.base}/v1/chat/completions",
        headers=AUTH,
        timeout=10,
        json={"model": "slow", "stream": True, "messages": [{"role": "user", "content": "d"}]},
    ) as r:
        next(r.iter_lines())
    # Rejected before routing (bad key, bad JSON): no usage, nothing changes.
    httpx.post(
        f"{tp.base}/v1/chat/completions",
        headers={"authorization": "Bearer sk-bad-000000"},
        json={"model": "gpt-4o-mini"},
    )
    wait_for(lambda: len(spend_rows(tp)) == 4)
    time.sleep(0.5)
    rows = spend_rows(tp)
    assert len(rows) == 4
    assert len({r[0] for r in rows}) == 4
    by_status = sorted(r[2] for r in rows)
    assert by_status == ["disconnected", "failure", "success", "success"]
    tokens = {r[2]: r[3] for r in rows if r[2] != "success"}
    assert tokens["failure"] == 0
    assert sorted(r[3] for r in rows if r[2] == "success") == [15, 18]


def test_graceful_shutdown_finishes_in_flight_stream(fresh: object) -> None:
    tp = fresh()  # type: ignore[operator]
    got: list[str] = []

    def consume() -> None:
        with httpx.stream(
            "POST",
            f"{tp.base}/v1/chat/completions",
            headers=AUTH,
            timeout=20,
            json={"model": "slow", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ) as r:
            got.extend(line for line in r.iter_lines() if line.startswith("data: "))

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.5)  # the stream is in flight (the fake pauses 0.2 s per chunk)
    tp.proc.send_signal(signal.SIGTERM)
    t.join(20)
    assert got and got[-1] == "data: [DONE]"
    assert tp.proc.wait(20) == 0
    assert [r[2] for r in spend_rows(tp)] == ["success"]  # usage flushed before exit


def test_logs_hold_no_keys_or_prompts(fresh: object) -> None:
    tp = fresh(env={"LITELLM_LOG": "INFO"})  # type: ignore[operator]
    c = openai.OpenAI(base_url=f"{tp.base}/v1", api_key=MASTER_KEY, max_retries=0)
    c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT_MARKER}]
    )
    with pytest.raises(openai.APIStatusError):
        c.chat.completions.create(
            model="broken-upstream", messages=[{"role": "user", "content": PROMPT_MARKER}]
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{tp.base}/v1", api_key="sk-leaky-key-123456789", max_retries=0
        ).chat.completions.create(model="gpt-4o-mini", messages=[])
    tp.stop()
    logs = tp.logs()
    for secret in (
        MASTER_KEY,
        "sk-upstream-openai-secret",
        "sk-ant-upstream-secret",
        "sk-leaky-key-123456789",
        PROMPT_MARKER,
    ):
        assert secret not in logs


def test_weak_master_key_refused_with_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_list: []\ngeneral_settings: {master_key: sk-1234}\n")
    out = subprocess.run(
        [tianji_bin(), "up", "--config", str(cfg), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "dangerously_permit_weak_or_unset_master_key" in out.stderr
    assert "sk-1234" not in out.stderr


def test_weak_master_key_allowed_with_litellm_opt_out(
    fresh: object, upstream: FakeUpstream
) -> None:
    tp = start_tianji(
        ["up"],
        config_text="general_settings: {master_key: sk-1234}\n",
        env={"LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"},
    )
    try:
        r = httpx.get(f"{tp.base}/v1/models", headers={"authorization": "Bearer sk-1234"})
        assert r.status_code == 200
    finally:
        tp.stop()


def test_unset_master_key_generates_one_into_state_dir(upstream: FakeUpstream) -> None:
    tp = start_tianji(["up"], config_text="model_list: []\n")
    try:
        key_file = tp.workdir / ".tianji" / "master_key"
        key = key_file.read_text().strip()
        assert key.startswith("sk-") and len(key) > 32
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert httpx.get(f"{tp.base}/v1/models").status_code == 401
        assert httpx.get(f"{tp.base}/v1/models", headers={"x-api-key": key}).status_code == 200
        assert key not in tp.logs()
    finally:
        tp.stop()


def test_json_logs_are_one_object_per_line(upstream: FakeUpstream) -> None:
    import json

    cfg = e2e_config(upstream).replace(
        "litellm_settings:\n", "litellm_settings:\n  json_logs: true\n"
    )
    tp = start_tianji(["up"], config_text=cfg)
    try:
        c = openai.OpenAI(base_url=f"{tp.base}/v1", api_key=MASTER_KEY, max_retries=0)
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="hangs", messages=[{"role": "user", "content": "x"}])
    finally:
        tp.stop()
    lines = [line for line in tp.logs().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"ts", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"] == "tianji.gateway" for r in records)
