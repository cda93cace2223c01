"""The composition root: settings → data directory, database, protocols, services."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import select

from kiln.amis.importer import IMPORTS_FOLDER, remove_abandoned_work
from kiln.amis.stores import ImageStores
from kiln.artifacts.containers import ContainerStorage
from kiln.auth.secretbox import SecretBox
from kiln.core.clock import utcnow
from kiln.core.errors import ConfigurationError
from kiln.core.pagination import PageTokens
from kiln.engine.context import EngineConfig
from kiln.engine.podman_host import PodmanBuildHost
from kiln.engine.vm_host import QemuBuildHost, RegisteredAmis
from kiln.engine.vm_routing import ImageTypeRouter
from kiln.executors.threads import ThreadExecutor
from kiln.instances.qemu import remove_leftovers as remove_qemu_leftovers
from kiln.objectstore import environ_resolver
from kiln.protocol.base import ProtocolHandler
from kiln.protocol.model import service_model
from kiln.protocol.query import QueryProtocol
from kiln.protocol.restjson import RestJsonProtocol
from kiln.scheduler import PipelineScheduler
from kiln.services import ec2, iam, imagebuilder, sts
from kiln.services.dispatch import ServiceRegistry
from kiln.services.iam.bootstrap import NewCredentials, administrator_key, ensure_administrator
from kiln.services.imagebuilder import vm_imports
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
        self.box = SecretBox(read_or_create_secret(self.data_dir / "secrets.key"))
        self.regions = settings.region_names()
        self.objects = environ_resolver(self.data_dir, settings.region)
        self.image_stores = ImageStores.configured(settings, self.data_dir, self.objects)
        self.seeded_regions: set[str] = set()
        self.executor: ThreadExecutor | None = None
        self.scheduler: PipelineScheduler | None = None
        self._created_credentials: NewCredentials | None = None
        self.default_account = self._default_account()
        self.new_credentials: NewCredentials | None = self._created_credentials
        self.protocols: dict[str, ProtocolHandler] = {
            "imagebuilder": RestJsonProtocol(service_model("imagebuilder")),
            "iam": QueryProtocol(service_model("iam")),
            "sts": QueryProtocol(service_model("sts")),
            "ec2": QueryProtocol(service_model("ec2")),
        }
        self.registries: dict[str, ServiceRegistry] = {
            "imagebuilder": imagebuilder.registry(),
            "iam": iam.registry(),
            "sts": sts.registry(),
            "ec2": ec2.registry(),
        }

    def _default_account(self) -> str:
        with self.database.transaction() as session:
            row = session.scalars(select(AccountRow).order_by(AccountRow.created_at)).first()
            if row is not None:
                return row.account_id
        return self.create_account("default").account

    def create_account(self, name: str) -> NewCredentials:
        """A new account with its administrator; returns the administrator's key."""
        now = utcnow()
        with self.database.transaction() as session:
            while True:
                account_id = f"{secrets.randbelow(9 * 10**11) + 10**11:012d}"
                if session.get(AccountRow, account_id) is None:
                    break
            session.add(AccountRow(account_id=account_id, name=name, created_at=now))
            session.flush()
            created = ensure_administrator(session, self.box, account=account_id, now=now)
        assert created is not None
        logger.info("created account %s (%s)", account_id, name)
        self._created_credentials = created
        return created

    def accounts(self) -> list[tuple[str, str]]:
        with self.database.transaction() as session:
            rows = session.scalars(select(AccountRow).order_by(AccountRow.created_at))
            return [(row.account_id, row.name) for row in rows]

    def admin_credentials(self, account: str | None = None) -> NewCredentials:
        """The administrator's key of an account (the default account unless told)."""
        with self.database.transaction() as session:
            found = administrator_key(session, self.box, account=account or self.default_account)
        if found is None:
            raise ConfigurationError(
                f"account {account or self.default_account} has no active administrator key"
            )
        return found

    def start_builds(self) -> ThreadExecutor:
        """Start the in-process build executor (it first recovers what a crash left)."""
        if self.executor is None:
            settings = self.settings
            registries = settings.registry_map()
            runtime = vm_runtime_dir(self.data_dir)
            remove_qemu_leftovers(runtime)
            with self.database.transaction() as session:
                for image in vm_imports.fail_interrupted_imports(session):
                    logger.warning("%s: Kiln stopped during its disk import", image)
            for folder in remove_abandoned_work(self.data_dir / IMPORTS_FOLDER):
                logger.warning("removed %s, the work of an import Kiln stopped during", folder)
            host = ImageTypeRouter(
                container=PodmanBuildHost(
                    ContainerStorage.at(settings.containers_dir or self.data_dir / "containers"),
                    insecure_registries=list(registries.values()),
                ),
                vm=QemuBuildHost(
                    self.data_dir / "vm-disks",
                    runtime,
                    amis=RegisteredAmis(self.database),
                    stores=self.image_stores,
                ),
            )
            config = EngineConfig(
                self.data_dir,
                registries=registries,
                registry_tls_verify=False,
                image_stores=self.image_stores,
                objects=self.objects,
            )
            self.executor = ThreadExecutor(
                self.database, host, config, workers=settings.build_workers
            ).start()
            self.scheduler = PipelineScheduler(
                self.database,
                self.tokens,
                self.data_dir,
                on_started=self.executor.notify,
                images=self.image_stores,
            ).start()
        return self.executor

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.executor is not None:
            self.executor.stop()
            self.executor = None
        self.objects.close()
        self.database.dispose()


def vm_runtime_dir(data_dir: Path) -> Path:
    """Sockets and pid files of running VMs: short (a unix socket path holds 108 bytes) and
    distinct per data directory."""
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/run/kiln") / digest


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
