"""Secrets at rest: SigV4 secrets must be recoverable to verify signatures, so they are kept
encrypted (Fernet: AES-128-CBC + HMAC-SHA256) with a key that lives in the data directory."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken

from kiln.core.errors import ConfigurationError


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError("the secrets key must be 32 bytes")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "a stored secret cannot be decrypted with this data directory's key",
                hint="the data directory's secrets.key does not match the database",
            ) from exc
