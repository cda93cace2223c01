"""Opaque, tamper-evident pagination tokens (nextToken).

A token is base64url(JSON state) + "." + HMAC-SHA256, keyed by a secret of the data directory
and bound to the operation, so a token from one list cannot be replayed against another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from kiln.core.errors import ClientError

T = TypeVar("T")


class InvalidPaginationTokenException(ClientError):
    code = "InvalidPaginationTokenException"


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, operation: str, state: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode()
        return f"{payload}.{self._sign(operation, payload)}"

    def decode(self, operation: str, token: str) -> dict[str, Any]:
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(operation, payload)):
            raise InvalidPaginationTokenException("The pagination token is not valid.")
        try:
            state = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except (binascii.Error, ValueError) as exc:
            raise InvalidPaginationTokenException("The pagination token is not valid.") from exc
        if not isinstance(state, dict):
            raise InvalidPaginationTokenException("The pagination token is not valid.")
        return state

    def page(
        self,
        operation: str,
        items: Sequence[T],
        *,
        max_results: int | None,
        next_token: str | None,
        default_size: int = 25,
    ) -> tuple[list[T], str | None]:
        """One page of items and the token of the next page (None on the last page)."""
        start = 0
        if next_token:
            start = self.decode(operation, next_token).get("offset", 0)
            if not isinstance(start, int) or start < 0:
                raise InvalidPaginationTokenException("The pagination token is not valid.")
        size = max_results or default_size
        page = list(items[start : start + size])
        end = start + size
        following = self.encode(operation, {"offset": end}) if end < len(items) else None
        return page, following

    def _sign(self, operation: str, payload: str) -> str:
        mac = hmac.new(self._secret, f"{operation}\n{payload}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]
