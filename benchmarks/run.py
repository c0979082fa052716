"""`just bench`: measure what the gateway adds on top of a fake upstream, on this machine.

Why a script and not pytest-benchmark alone: the numbers that matter (req/s under
concurrency, p50 added per request, RSS after load) are properties of separate processes
talking over real sockets, the way users run the proxy. Three processes take part, each
its own OS process so none steals the others' event loop:

1. `fake_upstream.py`: pre-encoded OpenAI responses on a raw uvloop Protocol;
2. `tianji up` (all-in-one: gateway, control plane, spend worker) pointed at it;
3. `load.py`: N keep-alive connections, fixed duration, per-request latency.

Phases: upstream alone at 1 and 16 connections (the floor and the harness ceiling), a
warm-up, then through the gateway: non-streaming at 16 connections, streaming at 16,
non-streaming at 1. Then the gateway's RSS (process plus children). Results go to
`.bench/results.json`; process logs to `.bench/*.log`.

Options: `--duration`, `--connections`, `--key` (send this key instead of the master key,
e.g. a virtual key), `--config` (your own config.yaml; it may say
`api_base: os.environ/BENCH_UPSTREAM_API_BASE` to reach the fake upstream and
`master_key: os.environ/TIANJI_BENCH_MASTER_KEY`, see config.example.yaml), `--target`
(bench a running server instead of starting one; `upstream` tests the harness itself).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT_DIR = REPO / ".bench"
UPSTREAM_ENV = "BENCH_UPSTREAM_API_BASE"
MASTER_ENV = "TIANJI_BENCH_MASTER_KEY"  # set for --config files that read it
SERVICE_ENV = ("DATABASE_URL", "NATS_URL", "REDIS_URL", "TIANJI_STATE_DIR")

# LiteLLM proxy 1.110.2, 1 worker, measured on this project's 2-core machine kind.
REF_RPS_16 = 95.0
REF_P50_1_MS = 11.0
REF_RSS_MB = (360.0, 490.0)
REFERENCE: dict[str, Any] = {"rps_16": REF_RPS_16, "p50_1_ms": REF_P50_1_MS, "rss_mb": REF_RSS_MB}
TARGET_RPS = 20 * REF_RPS_16  # 1,900 req/s
TARGET_RSS_MB = 90.0  # a quarter of LiteLLM's 360 MB floor
TARGET_ADDED_P50_MS = 1.0


class _Interrupted(Exception):
    pass


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Interrupted(f"signal {signum}")


# ---------------------------------------------------------------- processes


class Processes:
    """Every process we start, each in its own session so its whole group can be stopped."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for name, proc in reversed(self.procs):
            _stop(name, proc)
        self.procs.clear()


def _descendants(pid: int) -> list[Any]:
    try:
        import psutil
    except ImportError:
        return []
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _stop(name: str, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    kids = _descendants(proc.pid)
    # The group outlives its leader, so signal it even if the leader already exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    if proc.poll() is None:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            print(f"  {name} ignored SIGTERM for {grace:.0f}s; killing", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    for kid in kids:  # anything that left the process group
        with contextlib.suppress(Exception):
            if kid.is_running():
                kid.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_ready_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise RuntimeError(f"fake upstream did not print ready (got {buf!r})")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("fake upstream exited before ready")
            buf += chunk
    return buf.split(b"\n", 1)[0].decode()


def start_upstream(procs: Processes, log: Path) -> int:
    """Start the fake upstream on a free port; return the port."""
    argv = [sys.executable, str(HERE / "fake_upstream.py"), "--port", "0"]
    proc = procs.start("fake upstream", argv, stdout=subprocess.PIPE, stderr=log.open("wb"))
    line = _read_ready_line(proc, 15)
    if not line.startswith("ready"):
        raise RuntimeError(f"unexpected fake upstream output: {line!r}")
    return int(line.split()[1])


def find_tianji() -> Path:
    """The `tianji` console script of the venv we run in, else the repo's `.venv`."""
    for candidate in (Path(sys.prefix) / "bin" / "tianji", REPO / ".venv" / "bin" / "tianji"):
        if candidate.exists():
            return candidate
    found = shutil.which("tianji")
    if found:
        return Path(found)
    raise RuntimeError("no `tianji` executable: run `just sync` first")


def write_config(directory: Path, upstream_port: int, master_key: str) -> Path:
    """The bench config: one model, `bench-model`, served by the fake upstream."""
    path = directory / "config.yaml"
    path.write_text(
        "# written by benchmarks/run.py\n"
        "model_list:\n"
        "  - model_name: bench-model\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
        "      api_key: sk-fake\n"
        "general_settings:\n"
        f"  master_key: {master_key}\n"
    )
    return path


def master_key_of(config: Path, env: dict[str, str]) -> str | None:
    """`general_settings.master_key` of a user config, with `os.environ/X` resolved."""
    import yaml

    data = yaml.safe_load(config.read_text()) or {}
    key = (data.get("general_settings") or {}).get("master_key")
    if isinstance(key, str) and key.startswith("os.environ/"):
        key = env.get(key.removeprefix("os.environ/"))
    return key if isinstance(key, str) else None


def start_gateway(
    procs: Processes, config: Path, port: int, workdir: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    argv = [str(find_tianji()), "up", "--config", str(config), "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    print(f"starting: {' '.join(argv)}")
    return procs.start(
        "tianji up",
        argv,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout: float, log: Path) -> None:
    """Poll `url` until it answers 200; fail early if `proc` dies."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"status {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"status {exc.code}"
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s ({last})\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "--- " + str(log) + " (tail) ---\n" + "\n".join(text[-lines:])


def rss_of(pid: int) -> dict[str, Any]:
    """RSS (and PSS where readable) of `pid` and all its children, in MB."""
    import psutil

    root = psutil.Process(pid)
    members = [root, *root.children(recursive=True)]
    rss = pss = 0
    for p in members:
        with contextlib.suppress(psutil.Error):
            rss += p.memory_info().rss
            with contextlib.suppress(psutil.Error, AttributeError):
                pss += p.memory_full_info().pss
    return {
        "rss_mb": round(rss / 2**20, 1),
        "pss_mb": round(pss / 2**20, 1) if pss else None,
        "processes": len(members),
    }


# ---------------------------------------------------------------- load phases


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of `pid` and its children, or None if unreadable."""
    if pid is None:
        return None
    import psutil

    try:
        root = psutil.Process(pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
    except psutil.Error:
        return None
    return total


def run_phase(
    name: str,
    url: str,
    key: str | None,
    conns: int,
    seconds: float,
    *,
    stream: bool,
    model: str,
    pid: int | None = None,
) -> dict[str, Any]:
    """One load.py run; with `pid`, also the server's CPU time per request."""
    argv = [sys.executable, str(HERE / "load.py"), "--url", url, "-c", str(conns)]
    argv += ["-d", str(seconds), "--model", model]
    if key:
        argv += ["--key", key]
    if stream:
        argv.append("--stream")
    print(f"  {name}: {conns} conn(s), {seconds:g}s ...", end="", flush=True)
    cpu_before = cpu_seconds(pid)
    done = subprocess.run(argv, capture_output=True, timeout=seconds + 60, check=False)
    cpu_after = cpu_seconds(pid)
    if done.returncode != 0:
        raise RuntimeError(f"load.py failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    result["name"] = name
    result["stream"] = stream
    served = result["requests"] + result["errors"]
    if cpu_before is not None and cpu_after is not None and served:
        cpu = cpu_after - cpu_before
        result["server_cpu_ms_per_req"] = round(cpu * 1000 / served, 3)
        result["server_cpu_util"] = round(cpu / result["duration_s"], 2)
    print(f" {result['rps']:,.0f} req/s, p50 {result['p50_ms']} ms, errors {result['errors']}")
    if result["errors"]:
        for sample in result["error_samples"][:3]:
            print(f"    error: {sample}")
    return result


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(label: str, r: dict[str, Any]) -> str:
    cpu = r.get("server_cpu_ms_per_req")
    return (
        f"{label:<26}{r['connections']:>6}{_fmt(r['rps'], ',.0f'):>10}"
        f"{_fmt(r['p50_ms'], '.3f'):>10}{_fmt(r['p99_ms'], '.3f'):>10}{r['errors']:>8}"
        f"{_fmt(cpu, '.3f'):>12}"
    )


def evaluate(
    gw16: dict[str, Any] | None, added: float | None, rss: float | None
) -> list[dict[str, Any]]:
    """One entry per target: what we measured and PASS/MISS (or n/a)."""
    rps = gw16["rps"] if gw16 else None
    rows = [
        (
            "throughput @16 conns",
            f">= {TARGET_RPS:,.0f} req/s (20x LiteLLM)",
            rps,
            None if rps is None else rps >= TARGET_RPS,
            "req/s",
        ),
        (
            "RSS after load",
            f"<= {TARGET_RSS_MB:.0f} MB (1/4 of LiteLLM)",
            rss,
            None if rss is None else rss <= TARGET_RSS_MB,
            "MB",
        ),
        (
            "added p50 @1 conn",
            f"< {TARGET_ADDED_P50_MS:g} ms",
            added,
            None if added is None else added < TARGET_ADDED_P50_MS,
            "ms",
        ),
    ]
    return [
        {
            "target": n,
            "goal": g,
            "value": v,
            "unit": u,
            "verdict": "n/a" if ok is None else ("PASS" if ok else "MISS"),
        }
        for n, g, v, ok, u in rows
    ]


def print_report(res: dict[str, Any]) -> None:
    print()
    print(
        f"{'phase':<26}{'conns':>6}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
        f"{'cpu ms/req':>12}"
    )
    for label, key in (("upstream alone", "upstream_1"), ("upstream alone", "upstream_16")):
        if res["phases"].get(key):
            print(_row(label, res["phases"][key]))
    for label, key in (
        ("gateway non-streaming", "gateway_nonstream_16"),
        ("gateway streaming", "gateway_stream_16"),
        ("gateway non-streaming", "gateway_nonstream_1"),
    ):
        if res["phases"].get(key):
            print(_row(label, res["phases"][key]))
    if res.get("added_p50_ms") is not None:
        print(f"\nadded p50 at 1 conn (gateway - upstream alone): {res['added_p50_ms']:.3f} ms")
    if res.get("memory"):
        m = res["memory"]
        print(
            f"gateway RSS after load: {m['rss_mb']} MB over {m['processes']} process(es)"
            + (f", PSS {m['pss_mb']} MB" if m.get("pss_mb") else "")
        )
    lo, hi = REF_RSS_MB
    print(
        f"\nreference: LiteLLM 1.110.2 on this 2-core machine: ~{REF_RPS_16:.0f} req/s"
        f" at 16 conns, {REF_P50_1_MS:g} ms p50 at 1 conn, {lo:.0f}-{hi:.0f} MB RSS"
    )
    for t in res["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:,.3f}".rstrip("0").rstrip(".")
        print(f"  {t['target']:<22}{t['goal']:<30}{value + ' ' + t['unit']:>16}  {t['verdict']}")


# ---------------------------------------------------------------- main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="TianjiLLM gateway benchmark (just bench)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per gateway phase")
    p.add_argument("--connections", type=int, default=16, help="concurrency of the load phases")
    p.add_argument("--key", default=None, help="Bearer key to send (default: the master key)")
    p.add_argument(
        "--virtual-key",
        action="store_true",
        help="create a virtual key through /key/generate (a model list) and send it instead "
        "of the master key",
    )
    p.add_argument(
        "--key-budget",
        action="store_true",
        help="with --virtual-key: the key also has a team and a budget (limits on the path)",
    )
    p.add_argument("--config", type=Path, default=None, help="your own config.yaml")
    p.add_argument("--model", default="bench-model", help="model name to request")
    p.add_argument(
        "--target",
        default=None,
        help="base URL of a running server to bench instead (or 'upstream')",
    )
    p.add_argument("--pid", type=int, default=None, help="with --target: pid to read RSS from")
    p.add_argument(
        "--keep-service-env",
        action="store_true",
        help="pass DATABASE_URL/NATS_URL/REDIS_URL to the gateway (default: removed)",
    )
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def _bench(args: argparse.Namespace, procs: Processes, workdir: Path) -> dict[str, Any]:
    OUT_DIR.mkdir(exist_ok=True)
    conns = args.connections
    base_phase = min(args.duration, 5.0)
    up_port = start_upstream(procs, OUT_DIR / "upstream.log")
    up_url = f"http://127.0.0.1:{up_port}/v1/chat/completions"
    print(f"fake upstream on 127.0.0.1:{up_port}")
    phases: dict[str, Any] = {}
    phases["upstream_1"] = run_phase(
        "upstream alone", up_url, None, 1, base_phase, stream=False, model=args.model
    )
    phases["upstream_16"] = run_phase(
        "upstream alone", up_url, None, conns, base_phase, stream=False, model=args.model
    )

    gw_proc, key, base = _start_target(args, procs, workdir, up_port)
    url = f"{base}/v1/chat/completions"
    warm = run_phase("warm-up", url, key, conns, 3.0, stream=False, model=args.model)
    run_phase("warm-up (stream)", url, key, conns, 1.0, stream=True, model=args.model)
    if warm["requests"] == 0:
        raise RuntimeError("every warm-up request failed; see the errors above")

    pid = gw_proc.pid if gw_proc is not None else args.pid
    phase = functools.partial(run_phase, url=url, key=key, model=args.model, pid=pid)
    phases["gateway_nonstream_16"] = phase(
        "non-streaming", conns=conns, seconds=args.duration, stream=False
    )
    phases["gateway_stream_16"] = phase(
        "streaming", conns=conns, seconds=args.duration, stream=True
    )
    phases["gateway_nonstream_1"] = phase(
        "non-streaming", conns=1, seconds=args.duration, stream=False
    )
    memory = rss_of(pid) if pid else None

    gw1, up1 = phases["gateway_nonstream_1"]["p50_ms"], phases["upstream_1"]["p50_ms"]
    added = round(gw1 - up1, 3) if gw1 is not None and up1 is not None else None
    return {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": {
            "duration_s": args.duration,
            "connections": conns,
            "target": base,
            "virtual_key": args.key is not None or args.virtual_key,
        },
        "phases": phases,
        "added_p50_ms": added,
        "memory": memory,
        "reference_litellm_1_110_2": REFERENCE,
        "targets": evaluate(
            phases["gateway_nonstream_16"], added, memory["rss_mb"] if memory else None
        ),
    }


def _start_target(
    args: argparse.Namespace, procs: Processes, workdir: Path, up_port: int
) -> tuple[subprocess.Popen[bytes] | None, str | None, str]:
    """Start `tianji up` (or take `--target`); return its process, the key and base URL."""
    if args.target == "upstream":
        return None, args.key, f"http://127.0.0.1:{up_port}"
    if args.target:
        base = args.target.rstrip("/")
        wait_ready(f"{base}/health/readiness", None, args.ready_timeout, OUT_DIR / "none.log")
        return None, args.key, base
    env = dict(os.environ, **{UPSTREAM_ENV: f"http://127.0.0.1:{up_port}/v1"})
    if not args.keep_service_env:
        # Hermetic by default: `tianji up` uses SQLite in the temp dir and its in-process
        # bus, and never writes bench traffic into a shared Postgres or NATS.
        for name in SERVICE_ENV:
            env.pop(name, None)
    if args.config:
        config = args.config.resolve()
        env.setdefault(MASTER_ENV, "sk-" + secrets.token_hex(24))
        master = master_key_of(config, env)
        if master is None and args.key is None:
            raise RuntimeError(f"{config} has no general_settings.master_key; pass --key")
    else:
        master = "sk-" + secrets.token_hex(24)
        config = write_config(workdir, up_port, master)
    port = _free_port()
    log = OUT_DIR / "gateway.log"
    proc = start_gateway(procs, config, port, workdir, env, log)
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/health/readiness", proc, args.ready_timeout, log)
    print(f"gateway ready on {base} (pid {proc.pid})")
    if args.virtual_key and args.key is None and master is not None:
        return proc, generate_virtual_key(base, master, args.model, args.key_budget), base
    return proc, args.key or master, base


def generate_virtual_key(base: str, master: str, model: str, budget: bool) -> str:
    """A key with a model list; with `budget`, also a team and a budget far above the run."""
    headers = {"authorization": f"Bearer {master}", "content-type": "application/json"}

    def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            f"{base}{path}", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            out: dict[str, Any] = json.loads(resp.read())
            return out

    body: dict[str, Any] = {"models": [model]}
    if budget:
        team = call("/team/new", {"team_alias": "bench", "models": [model]})
        body |= {"team_id": team["team_id"], "max_budget": 1_000_000.0}
    key = call("/key/generate", body)
    what = "team, model list, budget" if budget else "model list"
    print(f"sending a virtual key ({what}) instead of the master key")
    return str(key["key"])


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="tianji-bench-") as tmp:
            try:
                res = _bench(args, procs, Path(tmp))
            finally:
                procs.stop_all()
    except (RuntimeError, subprocess.TimeoutExpired, _Interrupted, KeyboardInterrupt) as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 2
    out = OUT_DIR / "results.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    print_report(res)
    print(f"\nwrote {out.relative_to(REPO)}")
    errors = sum(p["errors"] for p in res["phases"].values())
    if errors:
        print(f"{errors} request(s) failed during the measured phases", file=sys.stderr)
        return 1
    if args.strict and any(t["verdict"] == "MISS" for t in res["targets"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
