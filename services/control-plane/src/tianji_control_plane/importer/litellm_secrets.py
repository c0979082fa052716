"""Read secrets LiteLLM encrypted at rest, so the import can re-encrypt them with ours.

LiteLLM (`encrypt_value_helper`) seals each string with NaCl's SecretBox, keyed by
`sha256(LITELLM_SALT_KEY or master_key)`, and stores it base64 (standard alphabet in
most versions, URL-safe in some): both are tried. A value that does not decrypt is
reported by name, never printed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import nacl.exceptions
import nacl.secret

__all__ = ["LiteLLMSecrets", "NotLiteLLMCiphertext"]


class NotLiteLLMCiphertext(ValueError):
    """The value is not a LiteLLM ciphertext under this key (or is plain text)."""


class LiteLLMSecrets:
    """Decrypts LiteLLM's stored values with the salt (or master) key it used."""

    __slots__ = ("_box",)

    def __init__(self, salt: str) -> None:
        self._box = nacl.secret.SecretBox(hashlib.sha256(salt.encode()).digest())

    def __repr__(self) -> str:
        return "LiteLLMSecrets(<redacted>)"

    def decrypt(self, value: str) -> str:
        """The plaintext, or `NotLiteLLMCiphertext`."""
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(value + "=" * (-len(value) % 4))
            except (binascii.Error, ValueError):
                continue
            if len(raw) <= nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES:
                continue
            try:
                return self._box.decrypt(raw).decode()
            except (nacl.exceptions.CryptoError, UnicodeDecodeError):
                continue
        raise NotLiteLLMCiphertext("value does not decrypt with the LiteLLM salt key")

    def maybe_decrypt(self, value: object) -> object:
        """Strings that decrypt become plaintext; anything else is returned as is.

        Why lenient: LiteLLM encrypts every string in `litellm_params`, but rows
        written by older versions (or by hand) hold plain values.
        """
        if not isinstance(value, str) or not value:
            return value
        try:
            return self.decrypt(value)
        except NotLiteLLMCiphertext:
            return value

    def encrypt(self, value: str) -> str:
        """LiteLLM's format (for building test fixtures and round-trip checks)."""
        return base64.b64encode(bytes(self._box.encrypt(value.encode()))).decode()
