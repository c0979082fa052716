"""Secrets at rest: authenticated encryption of credentials and DB-model secrets.

Why: provider API keys stored through `/credentials` and `/model/new` must never sit
in the database in clear, and a tampered ciphertext must fail loudly rather than
decrypt to garbage. AES-256-GCM (from `cryptography`, already required by authlib)
gives both. The key is `sha256(salt)` with the salt from `TIANJI_SALT_KEY`, else
`LITELLM_SALT_KEY` (LiteLLM's name, so one secret serves both during a migration),
else the master key, as LiteLLM falls back.

Format: `tj1:` + base64url(12-byte nonce || ciphertext || 16-byte tag), unpadded.
The prefix versions the format and tells our values from LiteLLM's NaCl ones.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "PREFIX",
    "DecryptError",
    "SecretBox",
    "box_from_env",
    "is_encrypted",
]

PREFIX: Final = "tj1:"
_NONCE: Final = 12
_SALT_VARS: Final = ("TIANJI_SALT_KEY", "LITELLM_SALT_KEY")
_MASTER_VARS: Final = ("TIANJI_MASTER_KEY", "LITELLM_MASTER_KEY")


class DecryptError(ValueError):
    """The value is not ours, was made with another salt key, or was tampered with."""


def is_encrypted(value: object) -> bool:
    """Whether `value` is a ciphertext in our format."""
    return isinstance(value, str) and value.startswith(PREFIX)


class SecretBox:
    """Encrypts and decrypts text with one salt key; never logs or repr()s the key.

    `cryptography` is imported on first use: every gateway builds a box at startup,
    few ever open one, and the OpenSSL bindings cost several MB of RSS.
    """

    __slots__ = ("_aead", "_key")

    def __init__(self, salt: str) -> None:
        if not salt:
            raise ValueError("an empty salt key cannot encrypt anything")
        self._key = hashlib.sha256(salt.encode()).digest()
        self._aead: AESGCM | None = None

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(self._key)
        return self._aead

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"

    def encrypt(self, plaintext: str) -> str:
        """A fresh nonce each call, so equal plaintexts give different ciphertexts."""
        nonce = os.urandom(_NONCE)
        sealed = self._cipher().encrypt(nonce, plaintext.encode(), None)
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def decrypt(self, token: str) -> str:
        """The plaintext, or `DecryptError` (wrong key, not ours, tampered)."""
        if not token.startswith(PREFIX):
            raise DecryptError("not a tianji ciphertext")
        body = token[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError as exc:
            raise DecryptError("malformed ciphertext") from exc
        if len(raw) < _NONCE + 16:
            raise DecryptError("malformed ciphertext")
        from cryptography.exceptions import InvalidTag

        try:
            return self._cipher().decrypt(raw[:_NONCE], raw[_NONCE:], None).decode()
        except InvalidTag as exc:
            raise DecryptError("ciphertext does not verify with this salt key") from exc


def box_from_env(
    environ: Mapping[str, str] | None = None, *, master_key: str | None = None
) -> SecretBox | None:
    """The box for this deployment: salt key, else master key, else None (nothing to use)."""
    env = os.environ if environ is None else environ
    for name in _SALT_VARS:
        if env.get(name):
            return SecretBox(env[name])
    if master_key:
        return SecretBox(master_key)
    for name in _MASTER_VARS:
        if env.get(name):
            return SecretBox(env[name])
    return None
