"""`tianji import litellm`: a LiteLLM proxy's database moves over and its keys keep working.

The source is a Postgres database this test builds with LiteLLM's own table layout
(tests/support/litellm_schema.sql) and fills as LiteLLM would: keys stored as the
sha256 of the whole `sk-…` key, DB-model params and credentials sealed with NaCl
under LiteLLM's salt key. The command runs as a real process, twice (re-run safety),
into Postgres and into SQLite; then `tianji up` on the imported database accepts the
imported key and refuses the imported blocked one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tianji_common.crypto import SecretBox
from tianji_common.db.engine import close_engine, open_engine, run_sql
from tianji_common.db.testing import postgres_server, temporary_database
from tianji_control_plane.importer.litellm_secrets import LiteLLMSecrets

from tests.e2e.conftest import MASTER_KEY, e2e_config
from tests.e2e.test_virtual_keys import chat_status
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import start_tianji, tianji_bin

pytestmark = pytest.mark.e2e

SCHEMA = Path(__file__).parent.parent / "support" / "litellm_schema.sql"
THEIR_SALT = "sk-litellm-salt-old-0123456789"
OUR_SALT = "tianji-salt-new-9876543210"
LIVE_KEY = "sk-QWrxEynunsNpV1zT48HIrw"  # LiteLLM's format: sk- + token_urlsafe(16)
BLOCKED_KEY = "sk-blockedEynunsNpV1zT48H"
UPSTREAM_SECRET = "sk-upstream-from-litellm-db"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with postgres_server() as url:
        if url is None:
            pytest.skip("no Postgres: set DATABASE_URL (or run a Docker engine)")
        yield url


async def _fill_litellm(url: str) -> None:
    box = LiteLLMSecrets(THEIR_SALT)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SCHEMA.read_text())
        await conn.execute(
            'INSERT INTO "LiteLLM_BudgetTable" (budget_id, max_budget, soft_budget, rpm_limit,'
            " tpm_limit, budget_duration, created_by, updated_by)"
            " VALUES ('b-org', 100.0, 80.0, 10, 5000, '30d', 'admin', 'admin'),"
            " ('b-cust', 5.0, NULL, NULL, NULL, NULL, 'admin', 'admin')"
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_OrganizationTable" (organization_id, organization_alias,'
            " budget_id, models, spend, created_by, updated_by)"
            " VALUES ('org-1', 'Acme', 'b-org', ARRAY['gpt-4o-mini'], 3.5, 'admin', 'admin')"
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_ModelTable" (id, aliases, created_by, updated_by)'
            " VALUES (1, '{\"fast\": \"gpt-4o-mini\"}', 'admin', 'admin')"
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, organization_id,'
            " members_with_roles, spend, max_budget, models, model_id)"
            " VALUES ('team-1', 'search', 'org-1',"
            ' \'[{"role": "admin", "user_id": "u-1"}]\', 2.25, 50.0, ARRAY[]::TEXT[], 1)'
        )
        # LiteLLM keeps the team's default member budget in metadata, not a column.
        await conn.execute(
            'INSERT INTO "LiteLLM_BudgetTable" (budget_id, max_budget, created_by, updated_by)'
            " VALUES ('b-member', 2.5, 'admin', 'admin')"
        )
        await conn.execute(
            "UPDATE \"LiteLLM_TeamTable\" SET metadata = $1 WHERE team_id = 'team-1'",
            json.dumps({"team_member_budget_id": "b-member", "owner": "search"}),
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_UserTable" (user_id, user_email, user_role, teams, spend,'
            " max_budget) VALUES ('u-1', 'u1@example.com', 'internal_user', ARRAY['team-1'],"
            " 1.0, 20.0)"
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, spend,'
            " models, user_id, team_id, max_budget, rpm_limit, blocked, metadata)"
            " VALUES ($1, 'sk-...T48H', 'live', 1.5, ARRAY[]::TEXT[], 'u-1', 'team-1', 10.0,"
            ' 100, NULL, \'{"tags": ["prod"]}\'),'
            " ($2, 'sk-...zT48', 'old', 0.0, ARRAY[]::TEXT[], 'u-1', 'team-1', NULL, NULL,"
            " true, '{}')",
            sha(LIVE_KEY),
            sha(BLOCKED_KEY),
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_TeamMembership" (user_id, team_id, spend)'
            " VALUES ('u-1', 'team-1', 0.75)"
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_OrganizationMembership" (user_id, organization_id, user_role,'
            " spend) VALUES ('u-1', 'org-1', 'org_admin', 0.5)"
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_EndUserTable" (user_id, alias, spend, allowed_model_region,'
            " budget_id, blocked) VALUES ('cust-1', 'Customer', 0.25, 'eu', 'b-cust', true)"
        )
        params = {
            "model": box.encrypt("openai/gpt-4o-mini-ok"),
            "api_key": box.encrypt(UPSTREAM_SECRET),
            "api_base": box.encrypt("http://127.0.0.1:9/v1"),
        }
        await conn.execute(
            'INSERT INTO "LiteLLM_ProxyModelTable" (model_id, model_name, litellm_params,'
            " model_info, created_by, updated_by) VALUES ('m-1', 'db-model', $1, $2, 'a', 'a')",
            json.dumps(params),
            json.dumps({"id": "m-1", "access_groups": ["beta"]}),
        )
        await conn.execute(
            'INSERT INTO "LiteLLM_CredentialsTable" (credential_id, credential_name,'
            " credential_values, credential_info, created_by, updated_by)"
            " VALUES ('c-1', 'azure-prod', $1, '{\"custom_llm_provider\": \"azure\"}', 'a', 'a')",
            json.dumps({"api_key": box.encrypt("azure-secret-value")}),
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def litellm_url(server_url: str) -> AsyncIterator[str]:
    async with temporary_database(server_url, prefix="litellm_src") as url:
        await _fill_litellm(url)
        yield url


def run_import(source: str, target: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "LITELLM_SALT_KEY": THEIR_SALT,
        "TIANJI_SALT_KEY": OUR_SALT,
    }
    return subprocess.run(
        [tianji_bin(), "import", "litellm", "--database-url", source, "--target-url", target],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def rows(url: str, sql: str) -> list[dict[str, Any]]:
    engine = await open_engine(url, pool=False)
    try:
        return [dict(r) for r in await run_sql(engine, sql)]
    finally:
        await close_engine(engine)


def counts(stdout: str) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for line in stdout.splitlines():
        name, sep, rest = line.partition(": ")
        if sep and "created" in rest:
            created, updated = (int(part.split()[0]) for part in rest.split(", "))
            out[name] = (created, updated)
    return out


async def check_target(url: str) -> None:
    keys = {r["token"]: r for r in await rows(url, "SELECT * FROM tianji_verification_token")}
    assert set(keys) == {sha(LIVE_KEY), sha(BLOCKED_KEY)}  # hashes preserved, not re-hashed
    live = keys[sha(LIVE_KEY)]
    assert float(live["spend"]) == 1.5
    assert float(live["max_budget"]) == 10.0
    assert live["rpm_limit"] == 100
    assert live["team_id"] == "team-1"
    assert bool(keys[sha(BLOCKED_KEY)]["blocked"]) is True
    (org,) = await rows(url, "SELECT * FROM tianji_organization")
    assert (org["organization_alias"], float(org["spend"])) == ("Acme", 3.5)
    assert (float(org["max_budget"]), org["rpm_limit"], org["budget_duration"]) == (
        100.0,
        10,
        "30d",
    )
    (team,) = await rows(url, "SELECT * FROM tianji_team")
    assert float(team["spend"]) == 2.25
    aliases = team["model_aliases"]
    aliases = json.loads(aliases) if isinstance(aliases, str) else aliases
    assert aliases == {"fast": "gpt-4o-mini"}
    assert team["team_member_budget_id"] == "b-member"
    metadata = team["metadata"]
    metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    assert metadata == {"team_member_budget_id": "b-member", "owner": "search"}  # kept whole
    (member,) = await rows(url, "SELECT * FROM tianji_team_membership")
    assert (member["id"], float(member["spend"])) == ("team-1/u-1", 0.75)
    (org_member,) = await rows(url, "SELECT * FROM tianji_organization_membership")
    assert org_member["user_role"] == "org_admin"
    (customer,) = await rows(url, "SELECT * FROM tianji_end_user")
    assert (customer["allowed_model_region"], bool(customer["blocked"])) == ("eu", True)
    (budget_row,) = await rows(url, "SELECT * FROM tianji_budget WHERE budget_id = 'b-cust'")
    assert float(budget_row["max_budget"]) == 5.0
    ours = SecretBox(OUR_SALT)
    (model,) = await rows(url, "SELECT * FROM tianji_proxy_model")
    params = model["litellm_params"]
    params = json.loads(params) if isinstance(params, str) else params
    assert params["model"] == "openai/gpt-4o-mini-ok"  # not a secret: readable
    assert UPSTREAM_SECRET not in json.dumps(params)
    assert ours.decrypt(params["api_key"]) == UPSTREAM_SECRET
    (cred,) = await rows(url, "SELECT * FROM tianji_credential")
    assert "azure-secret-value" not in cred["credential_values"]
    assert json.loads(ours.decrypt(cred["credential_values"])) == {"api_key": "azure-secret-value"}


async def test_import_into_postgres_is_complete_and_safe_to_rerun(
    litellm_url: str, server_url: str, upstream: FakeUpstream
) -> None:
    async with temporary_database(server_url, prefix="tianji_import") as target:
        first = await asyncio.to_thread(run_import, litellm_url, target)
        assert first.returncode == 0, first.stderr
        assert THEIR_SALT not in first.stdout + first.stderr
        assert counts(first.stdout)["tianji_verification_token"] == (2, 0)
        await check_target(target)

        again = await asyncio.to_thread(run_import, litellm_url, target)
        assert again.returncode == 0, again.stderr
        rerun = counts(again.stdout)
        assert rerun["tianji_verification_token"] == (0, 2)
        assert all(created == 0 for created, _ in rerun.values()), rerun
        await check_target(target)  # nothing doubled, nothing lost

        proc = start_tianji(["up"], config_text=e2e_config(upstream), env={"DATABASE_URL": target})
        try:
            assert await asyncio.to_thread(chat_status, proc.base, LIVE_KEY) == 200
            assert await asyncio.to_thread(chat_status, proc.base, BLOCKED_KEY) == 401
            assert await asyncio.to_thread(chat_status, proc.base, MASTER_KEY) == 200
        finally:
            proc.stop()


async def test_import_into_sqlite(litellm_url: str, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'tianji.db'}"
    done = await asyncio.to_thread(run_import, litellm_url, target)
    assert done.returncode == 0, done.stderr
    await check_target(target)


async def test_import_refuses_secrets_without_a_salt_key(litellm_url: str, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "LITELLM_SALT_KEY", "LITELLM_MASTER_KEY", "TIANJI_SALT_KEY")
    }
    target = f"sqlite:///{tmp_path / 'refused.db'}"
    out = await asyncio.to_thread(
        subprocess.run,
        [tianji_bin(), "import", "litellm", "--database-url", litellm_url, "--target-url", target],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "LITELLM_SALT_KEY" in out.stderr
