# TianjiLLM developer tasks. `just --list` shows them; `just ci` runs what CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]

# uv from PATH, else the copy bootstrapped into .tools/
uv := `command -v uv 2>/dev/null || echo .tools/bin/uv`
bin := ".venv/bin"
pytest := bin / "pytest -q -p no:cacheprovider"

# Local services, as the machines and CI run them (see scripts/services-up.sh).
database_url := env_var_or_default("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
redis_url := env_var_or_default("REDIS_URL", "redis://127.0.0.1:6379/0")
nats_url := env_var_or_default("NATS_URL", "nats://127.0.0.1:4222")

default:
    @just --list

# install every workspace member and the dev group, exactly as locked
sync:
    {{ uv }} sync --all-packages --frozen

# format and apply safe lint fixes
fmt:
    {{ bin }}/ruff format .
    {{ bin }}/ruff check --fix .

# ruff check + ruff format --check
lint:
    {{ bin }}/ruff check .
    {{ bin }}/ruff format --check .

# mypy --strict over every member (config in pyproject.toml)
typecheck:
    {{ bin }}/mypy libs/common/src services/*/src src

# the full pytest run
test *args:
    {{ pytest }} {{ args }}

# integration tests against local Postgres, Redis and NATS
test-int *args: services-up
    #!/usr/bin/env bash
    set -euo pipefail
    shopt -s nullglob
    dirs=(libs/*/tests/integration services/*/tests/integration)
    if ((${#dirs[@]} == 0)); then echo "no integration tests yet"; exit 0; fi
    export DATABASE_URL="{{ database_url }}" REDIS_URL="{{ redis_url }}" NATS_URL="{{ nats_url }}"
    {{ pytest }} "${dirs[@]}" {{ args }}

# black-box tests: real processes over HTTP and NATS
e2e *args: services-up
    DATABASE_URL="{{ database_url }}" REDIS_URL="{{ redis_url }}" NATS_URL="{{ nats_url }}" \
        {{ pytest }} tests/e2e {{ args }}

# gateway throughput, latency and RSS against a fake upstream (docs/benchmarks.md)
bench *args:
    {{ bin }}/python benchmarks/run.py {{ args }}

# native translations (anthropic, gemini, bedrock) against OpenAI pass-through, interleaved
bench-providers *args:
    {{ bin }}/python benchmarks/providers.py {{ args }}

# spend-worker events/s into Postgres from a JetStream backlog (private nats-server)
bench-spend *args:
    DATABASE_URL="{{ database_url }}" {{ bin }}/python benchmarks/spend_worker.py {{ args }}

# apply database migrations (DATABASE_URL)
migrate *args:
    {{ bin }}/tianji migrate {{ args }}

# check Postgres, Redis and NATS (JetStream); start whichever is down
services-up:
    bash scripts/services-up.sh

run-gateway *args:
    {{ bin }}/tianji gateway {{ args }}

run-control-plane *args:
    {{ bin }}/tianji control-plane {{ args }}

run-spend-worker *args:
    {{ bin }}/tianji spend-worker {{ args }}

# all three services in one process on :4000
up *args:
    {{ bin }}/tianji up --config examples/config.yaml {{ args }}

# what CI runs, in CI order
ci: lint typecheck test
