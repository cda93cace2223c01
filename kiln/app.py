"""The composition root: settings → data directory, database, protocols, services."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import select

from kiln.core.clock import utcnow
from kiln.core.pagination import PageTokens
from kiln.protocol.model import service_model
from kiln.protocol.restjson import RestJsonProtocol
from kiln.services import imagebuilder
from kiln.services.dispatch import ServiceRegistry
from kiln.settings import Settings
from kiln.store.database import Database, sqlite_url
from kiln.store.schema import AccountRow

logger = logging.getLogger(__name__)


class Kiln:
    """Everything a running Kiln holds; built once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = prepare_data_dir(settings.data_dir)
        self.database = Database(settings.database_url or sqlite_url(self.data_dir))
        self.database.migrate()
        self.tokens = PageTokens(read_or_create_secret(self.data_dir / "pagination.key"))
        self.default_account = self._default_account()
        self.protocols = {"imagebuilder": RestJsonProtocol(service_model("imagebuilder"))}
        self.registries: dict[str, ServiceRegistry] = {"imagebuilder": imagebuilder.registry()}

    def _default_account(self) -> str:
        with self.database.transaction() as session:
            row = session.scalars(select(AccountRow).order_by(AccountRow.created_at)).first()
            if row is not None:
                return row.account_id
            account_id = f"{secrets.randbelow(9 * 10**11) + 10**11:012d}"
            session.add(AccountRow(account_id=account_id, name="default", created_at=utcnow()))
            logger.info("created the default account %s", account_id)
            return account_id

    def close(self) -> None:
        self.database.dispose()


def prepare_data_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def read_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A random key kept in the data directory, readable by its owner only."""
    if path.exists():
        return path.read_bytes()
    key = secrets.token_bytes(size)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
