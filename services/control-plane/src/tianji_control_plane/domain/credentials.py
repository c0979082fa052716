"""Named provider credentials (`/credentials`) and the secret rules DB models share.

Why here: a credential and a `/model/new` deployment hold the same kind of values
(API keys, cloud secrets). Both are sealed with the deployment's `SecretBox`
(`tianji_common.crypto`) before they reach the database, and both are shown masked
the way LiteLLM masks them (`_get_masked_values`: two characters, four asterisks,
two characters), never in clear and never as ciphertext.

A credential's values are stored as one ciphertext of the JSON object, so the names
of the fields are not readable at rest either; gateways receive that ciphertext in
`CredentialPolicy.values` and open it with the same salt key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from tianji_common.crypto import DecryptError, SecretBox, is_encrypted
from tianji_common.errors import GatewayError, InvalidRequest, NotFound
from tianji_common.policy import CredentialPolicy

from tianji_control_plane.domain.common import Ctx, write
from tianji_control_plane.repo import credentials as repo
from tianji_control_plane.repo.credentials import CredentialRow

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db

__all__ = [
    "CredentialBody",
    "CredentialPatch",
    "create_credential",
    "credential_policies",
    "credential_policy",
    "delete_credential",
    "get_credential_or_404",
    "is_secret_param",
    "mask",
    "mask_values",
    "needs_seal",
    "open_values",
    "require_box",
    "seal",
    "unseal",
    "update_credential",
]

_TABLE: Final = "tianji_credential"
# LiteLLM's sensitive words (`_get_masked_values`), plus the brief's `password`.
_SECRET_WORDS: Final = (
    "key",
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "authorization",
)
# Names that contain a secret word but hold no secret: limits, prices, references.
_NOT_SECRET: Final = frozenset({"litellm_credential_name", "model", "tokenizer"})
_NOT_SECRET_PARTS: Final = ("cost", "tokens", "per_token", "max_")
_ENV_REFERENCE: Final = "os.environ/"


def is_secret_param(name: str) -> bool:
    """Whether a `litellm_params` / credential field holds a secret to seal and mask."""
    lowered = name.lower()
    if lowered in _NOT_SECRET or any(part in lowered for part in _NOT_SECRET_PARTS):
        return False
    return any(word in lowered for word in _SECRET_WORDS)


def needs_seal(name: str, value: object) -> bool:
    """A secret field's value, except `os.environ/NAME` (a reference the gateway resolves)."""
    if value is None or not is_secret_param(name):
        return False
    return not (isinstance(value, str) and value.startswith(_ENV_REFERENCE))


def require_box(box: SecretBox | None) -> SecretBox:
    """The box, or a 500 saying which setting is missing (nothing is stored in clear)."""
    if box is None:
        raise GatewayError(
            "Cannot store secrets: no encryption key is configured. Set TIANJI_SALT_KEY "
            "(or LITELLM_SALT_KEY) or a master key, then retry.",
            code="no_encryption_key",
        )
    return box


def seal(box: SecretBox, value: object) -> str:
    """One value as ciphertext; non-text values (e.g. a credentials dict) as JSON text."""
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return box.encrypt(text)


def unseal(box: SecretBox | None, value: object) -> object:
    """The clear value of a sealed one; anything else unchanged. Raises `DecryptError`."""
    if box is None or not is_encrypted(value):
        return value
    assert isinstance(value, str)  # is_encrypted checked it
    return box.decrypt(value)


def mask(value: object) -> object:
    """LiteLLM's mask: `sk****yz`; short text fully starred.

    A mapping under a secret name (a service-account JSON) has every value masked;
    any other non-text value is starred whole.
    """
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if not isinstance(value, str) or len(value) <= 4:
        return "*****"
    return value[:2] + "****" + value[-2:]


def mask_values(values: dict[str, Any], box: SecretBox | None) -> dict[str, Any]:
    """Secret fields masked (opened first, so the mask shows the real ends), others as is.

    A value that cannot be opened (another salt key) is shown fully starred.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if not is_secret_param(name):
            # LiteLLM looks inside mappings too (`extra_headers: {Authorization: ...}`).
            out[name] = mask_values(value, box) if isinstance(value, dict) else value
            continue
        try:
            out[name] = mask(unseal(box, value))
        except DecryptError:
            out[name] = "*****"
    return out


def open_values(box: SecretBox | None, sealed: str) -> dict[str, Any]:
    """A credential's values in clear (server-side only: masking, model copies)."""
    if not sealed:
        return {}
    box = require_box(box)
    try:
        values = msgspec.json.decode(box.decrypt(sealed))
    except DecryptError as exc:
        raise GatewayError(
            "A stored credential cannot be decrypted with the configured salt key.",
            code="credential_decrypt_failed",
        ) from exc
    return values if isinstance(values, dict) else {}


class CredentialBody(msgspec.Struct, kw_only=True):
    """`POST /credentials` (LiteLLM's `CreateCredentialItem`)."""

    credential_name: str
    credential_values: dict[str, Any] | None = None
    credential_info: dict[str, Any] | None = None
    model_id: str | None = None


class CredentialPatch(msgspec.Struct, kw_only=True):
    """`PATCH /credentials/{name}` (LiteLLM's `CredentialItem`, every field optional)."""

    credential_name: str | None = None
    credential_values: dict[str, Any] | None = None
    credential_info: dict[str, Any] | None = None


def credential_policy(row: CredentialRow) -> CredentialPolicy:
    """What a gateway receives: the ciphertext as stored."""
    return CredentialPolicy(
        credential_name=row.credential_name,
        values=row.credential_values,
        credential_info=row.credential_info,
    )


async def credential_policies(db: Db) -> dict[str, CredentialPolicy]:
    """The snapshot section: every credential by name."""
    return {r.credential_name: credential_policy(r) for r in await repo.all_credentials(db)}


def _not_found(name: str) -> NotFound:
    return NotFound(f"Credential not found. Got credential name: {name}", param="credential_name")


async def get_credential_or_404(db: Db, name: str) -> CredentialRow:
    """The credential, or 404 (LiteLLM's message)."""
    row = await repo.get_credential(db, name)
    if row is None:
        raise _not_found(name)
    return row


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidRequest("credential_name must not be empty", param="credential_name")
    return cleaned


async def create_credential(
    ctx: Ctx, body: CredentialBody, box: SecretBox | None, values: dict[str, Any] | None
) -> CredentialRow:
    """Store a new credential; `values` are the clear values (from the body or a model)."""
    name = _check_name(body.credential_name)
    if values is None:
        raise InvalidRequest(
            "Credential values are required. Unable to infer credential values from model ID.",
            param="credential_values",
        )
    sealed = seal(require_box(box), values)
    now = datetime.now(UTC)
    row = CredentialRow(
        credential_name=name,
        credential_values=sealed,
        credential_info=body.credential_info or {},
        created_at=now,
        created_by=ctx.actor,
        updated_at=now,
        updated_by=ctx.actor,
    )
    async with write(ctx) as changes:
        if await repo.get_credential(ctx.db, name) is not None:
            raise InvalidRequest(
                f"Credential {name!r} already exists. Use PATCH /credentials/{name} to change it.",
                param="credential_name",
            )
        await repo.insert_credential(ctx.db, row)
        policy = credential_policy(row)
        await ctx.audit("created", _TABLE, name, None, policy)
        changes.credentials[name] = policy
    return row


async def update_credential(
    ctx: Ctx, name: str, patch: CredentialPatch, box: SecretBox | None
) -> CredentialRow:
    """Merge the patch into the stored credential (LiteLLM's `update_db_credential`)."""
    new_name = _check_name(patch.credential_name) if patch.credential_name else name
    async with write(ctx) as changes:
        before = await repo.get_credential(ctx.db, name)
        if before is None:
            raise NotFound("Credential not found in DB.", param="credential_name")
        sealed = before.credential_values
        if patch.credential_values:
            values = open_values(box, before.credential_values)
            values.update(patch.credential_values)
            sealed = seal(require_box(box), values)
        if new_name != name and await repo.get_credential(ctx.db, new_name) is not None:
            raise InvalidRequest(
                f"Credential {new_name!r} already exists.", param="credential_name"
            )
        after = msgspec.structs.replace(
            before,
            credential_name=new_name,
            credential_values=sealed,
            credential_info={**before.credential_info, **(patch.credential_info or {})},
            updated_at=datetime.now(UTC),
            updated_by=ctx.actor,
        )
        await repo.update_credential(ctx.db, name, after)
        policy = credential_policy(after)
        await ctx.audit("updated", _TABLE, name, credential_policy(before), policy)
        if new_name != name:
            changes.credentials[name] = None
        changes.credentials[new_name] = policy
    return after


async def delete_credential(ctx: Ctx, name: str) -> None:
    """Delete a credential, or 404."""
    async with write(ctx) as changes:
        before = await get_credential_or_404(ctx.db, name)
        await repo.delete_credential(ctx.db, name)
        await ctx.audit("deleted", _TABLE, name, credential_policy(before), None)
        changes.credentials[name] = None
