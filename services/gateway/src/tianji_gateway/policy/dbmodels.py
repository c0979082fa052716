"""DB models (`/model/new`) and DB credentials served next to the config's model_list.

Why here: the snapshot carries `models` and `credentials` with their secrets still
encrypted (never in clear on the bus); the gateway decrypts them with the same salt
key (`tianji_common.crypto`), turns them into config entries with the config's own
parser (so `extra`/`settings` split exactly as for a file), and swaps the router's
deployments in one step. A model that cannot be decrypted answers a clear 400
instead of silently disappearing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import msgspec
from tianji_common.config.build import build_config
from tianji_common.config.model import Credential
from tianji_common.config.report import ConfigReport
from tianji_common.crypto import DecryptError, is_encrypted
from tianji_common.errors import GatewayError, InvalidRequest

if TYPE_CHECKING:
    from tianji_common.config.model import ModelEntry
    from tianji_common.crypto import SecretBox
    from tianji_common.policy import CredentialPolicy, DbModelPolicy

    from tianji_gateway.policy.store import PolicyStore
    from tianji_gateway.routing.build import DeploymentBuilder
    from tianji_gateway.routing.router import Router

__all__ = ["DbModelSync", "decode_credentials", "decode_models"]

log = logging.getLogger("tianji.gateway.policy")

_ENV_PREFIX: Final = "os.environ/"


class _Undecryptable(ValueError):
    """A secret made with another salt key (or none configured)."""


def _plain(value: Any, box: SecretBox | None, env: Mapping[str, str]) -> Any:
    if is_encrypted(value):
        if box is None:
            raise _Undecryptable("no salt key or master key is set to decrypt it")
        try:
            return box.decrypt(value)
        except DecryptError as exc:
            raise _Undecryptable(str(exc)) from None
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        return env.get(value[len(_ENV_PREFIX) :])  # LiteLLM's env reference, as in files
    return value


def decode_models(
    models: Mapping[str, DbModelPolicy], box: SecretBox | None, env: Mapping[str, str]
) -> tuple[list[ModelEntry], dict[str, GatewayError]]:
    """Config entries for the DB models, and an error per model that cannot be used."""
    items: list[dict[str, Any]] = []
    broken: dict[str, GatewayError] = {}
    for model_id, model in sorted(models.items()):
        try:
            params = {k: _plain(v, box, env) for k, v in model.litellm_params.items()}
        except _Undecryptable as exc:
            log.warning("database model %s (%s) skipped: %s", model_id, model.model_name, exc)
            broken.setdefault(
                model.model_name,
                InvalidRequest(
                    f"model {model.model_name} is stored encrypted with another salt key; "
                    "set TIANJI_SALT_KEY (or LITELLM_SALT_KEY) to the control plane's",
                    param="model",
                    code="model_not_decryptable",
                ),
            )
            continue
        info = {**model.model_info, "id": model_id}
        items.append({"model_name": model.model_name, "litellm_params": params, "model_info": info})
    report = ConfigReport()
    cfg = build_config({"model_list": items}, {}, frozenset(), report)
    for finding in report.errors:
        log.warning("database model: %s", finding)
    return cfg.model_list, broken


def decode_credentials(
    credentials: Mapping[str, CredentialPolicy], box: SecretBox | None
) -> dict[str, Credential]:
    """The DB credentials in clear (values are encrypted JSON objects at rest)."""
    out: dict[str, Credential] = {}
    for name, cred in credentials.items():
        try:
            text = _plain(cred.values, box, {}) if cred.values else "{}"
            values = msgspec.json.decode(text) if isinstance(text, str) else {}
        except (_Undecryptable, msgspec.DecodeError) as exc:
            log.warning("credential %s skipped: %s", name, exc)
            continue
        if isinstance(values, dict):
            out[name] = Credential(
                credential_name=name,
                credential_values=values,
                credential_info=dict(cred.credential_info),
            )
    return out


class DbModelSync:
    """Rebuilds the router from the config plus the store's DB models, on each change."""

    def __init__(
        self,
        store: PolicyStore,
        router: Router,
        builder: DeploymentBuilder,
        box: SecretBox | None,
    ) -> None:
        self._store = store
        self._router = router
        self._builder = builder
        self._box = box

    def refresh(self) -> None:
        """Build and swap in the deployments; on any failure keep serving the old ones."""
        try:
            self._refresh()
        except Exception:  # a bad DB model must not stop the policy sync task
            log.exception("rebuilding the router from the DB models failed")

    def _refresh(self) -> None:
        store = self._store
        entries, undecryptable = decode_models(store.models, self._box, self._builder.env)
        credentials = decode_credentials(store.credentials, self._box)
        built = self._builder.build(entries, credentials)
        for warning in built.warnings:
            log.warning("%s", warning)
        self._router.update(built.deployments, {**undecryptable, **built.broken})
        store.set_deployment_groups(self._router.access_groups)
