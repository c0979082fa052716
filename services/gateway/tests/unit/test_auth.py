"""Master-key auth: every header LiteLLM accepts, weak-key refusal, no key echo."""

from __future__ import annotations

import pytest
from tianji_common.errors import AuthError

from tianji_gateway.auth import (
    Authenticator,
    Principal,
    WeakMasterKey,
    check_master_key_strength,
    hash_key,
)

MASTER = "sk-0123456789abcdef-master"


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {MASTER}"},
        {"authorization": f"bearer {MASTER}"},
        {"x-litellm-api-key": MASTER},
        {"api-key": MASTER},
        {"x-api-key": MASTER},
        {"x-goog-api-key": MASTER},
        {"ocp-apim-subscription-key": MASTER},
        {"x-custom-key": MASTER},
    ],
)
def test_master_key_in_every_header(headers: dict[str, str]) -> None:
    auth = Authenticator(MASTER, header_name="X-Custom-Key")
    p = auth.authenticate(headers)
    assert p.is_admin and p.key_hash == hash_key(MASTER)


def test_missing_and_wrong_key_do_not_echo() -> None:
    auth = Authenticator(MASTER)
    with pytest.raises(AuthError, match="No api key passed in"):
        auth.authenticate({})
    with pytest.raises(AuthError) as e:
        auth.authenticate({"authorization": "Bearer sk-wrong-but-long-key"})
    assert "sk-wrong" not in e.value.message
    assert e.value.http_status == 401
    assert e.value.response_headers()["x-should-retry"] == "false"


def test_virtual_key_resolver_is_consulted() -> None:
    class Keys:
        def resolve(self, key_hash: str) -> Principal | None:
            return (
                Principal(key_hash, False, user_id="u1")
                if key_hash == hash_key("sk-virt")
                else None
            )

    auth = Authenticator(MASTER, keys=Keys())
    assert auth.authenticate({"authorization": "Bearer sk-virt"}).user_id == "u1"
    with pytest.raises(AuthError):
        auth.authenticate({"authorization": "Bearer sk-other"})


def test_hash_matches_litellm_format() -> None:
    # LiteLLM stores sha256(key).hexdigest() in LiteLLM_VerificationToken.token.
    assert hash_key("sk-1234") == "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"


@pytest.mark.parametrize(
    "key", ["sk-1234", "SK-1234", "sk-admin", "sk-short", None, "nosk-0123456789abcdef"]
)
def test_weak_or_unset_master_key_refused(key: str | None) -> None:
    with pytest.raises(WeakMasterKey, match="dangerously_permit_weak_or_unset_master_key"):
        check_master_key_strength(key, permit_weak=False)


def test_opt_out_permits_weak_key() -> None:
    check_master_key_strength("sk-1234", permit_weak=True)
    check_master_key_strength(None, permit_weak=True)
    assert Authenticator(None).authenticate({}).is_admin


def test_strong_key_accepted() -> None:
    check_master_key_strength(MASTER, permit_weak=False)
