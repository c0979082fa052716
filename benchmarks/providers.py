"""Native translations against OpenAI pass-through, in one `tianji up` (`just bench-providers`).

Why interleaved rounds in one process: this machine's speed drifts by tens of percent
between runs, so separate `just bench` runs cannot compare providers. Here every round
drives each model group in turn for a few seconds against the same gateway and fake
upstream, and the report compares medians. Target (issue 5): a native translation
(Anthropic, Gemini, Bedrock) keeps at least 75% of the pass-through throughput.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # the harness next to this file

MODELS = ("bench-openai", "bench-anthropic", "bench-gemini", "bench-bedrock")

CONFIG = """
model_list:
  - model_name: bench-openai
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{base}/v1", api_key: sk-fake}}
  - model_name: bench-anthropic
    litellm_params: {{model: anthropic/claude-bench, api_base: "{base}", api_key: sk-fake}}
  - model_name: bench-gemini
    litellm_params: {{model: gemini/gemini-bench, api_base: "{base}/v1beta", api_key: fake}}
  - model_name: bench-bedrock
    litellm_params:
      model: bedrock/anthropic.claude-bench
      api_base: "{base}"
      aws_access_key_id: AKIDEXAMPLE
      aws_secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
      aws_region_name: us-east-1
general_settings: {{master_key: {key}}}
"""


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print req/s and CPU per request for each provider."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--connections", type=int, default=16)
    args = p.parse_args(argv)
    procs = bench.Processes()
    work = Path(tempfile.mkdtemp(prefix="tianji-bench-providers-"))
    key = "sk-" + secrets.token_urlsafe(24)
    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODELS}
    try:
        port = bench.start_upstream(procs, work / "upstream.log")
        cfg = work / "config.yaml"
        cfg.write_text(CONFIG.format(base=f"http://127.0.0.1:{port}", key=key))
        gw_port = bench._free_port()
        env = {
            k: v
            for k, v in __import__("os").environ.items()
            if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL", "TIANJI_STATE_DIR")
        }
        gw = bench.start_gateway(procs, cfg, gw_port, work, env, work / "gateway.log")
        base = f"http://127.0.0.1:{gw_port}"
        bench.wait_ready(f"{base}/health/readiness", gw, 60, work / "gateway.log")
        url = f"{base}/v1/chat/completions"
        for model in MODELS:  # warm-up, and fail fast on a broken deployment
            bench.run_phase(f"warm {model}", url, key, 4, 1, stream=False, model=model)
        for r in range(args.rounds):
            for model in MODELS:
                res = bench.run_phase(
                    f"round {r + 1} {model}",
                    url,
                    key,
                    args.connections,
                    args.seconds,
                    stream=False,
                    model=model,
                    pid=gw.pid,
                )
                if res["errors"]:
                    raise RuntimeError(f"{model}: {res['errors']} errors")
                results[model].append(
                    {"rps": res["rps"], "cpu": res.get("server_cpu_ms_per_req", 0.0)}
                )
    finally:
        procs.stop_all()
    _report(results)
    return 0


def _report(results: dict[str, list[dict[str, float]]]) -> None:
    base_rps = statistics.median(x["rps"] for x in results["bench-openai"])
    print(f"\n{'model':18} {'median req/s':>12} {'cpu ms/req':>11} {'vs pass-through':>16}")
    for model, rows in results.items():
        rps = statistics.median(x["rps"] for x in rows)
        cpu = statistics.median(x["cpu"] for x in rows)
        verdict = "" if model == "bench-openai" else ("PASS" if rps >= 0.75 * base_rps else "MISS")
        print(f"{model:18} {rps:12,.0f} {cpu:11.3f} {rps / base_rps:15.0%} {verdict}")
    print("target: a native translation keeps >= 75% of the OpenAI pass-through req/s")


if __name__ == "__main__":
    raise SystemExit(main())
