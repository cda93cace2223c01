"""BuildRun: one build of one image as the engine sees it (plan, host, store, logs)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.amis.stores import ImageStores
from kiln.core.clock import aws_datetime, utcnow
from kiln.engine import ledger
from kiln.engine.host import BUILD_ANNOTATION, BuildHost
from kiln.engine.ledger import LedgerKind
from kiln.engine.logs import build_log_root
from kiln.engine.plan import BuildPlan
from kiln.engine.status import ImageStatus, status_of
from kiln.objectstore import Resolver
from kiln.scan import AdvisorySource
from kiln.store import resources
from kiln.store.database import Database


@dataclass(frozen=True)
class EngineConfig:
    """Where builds keep logs and where container images go.

    `registries` maps a region to the registry (`host:port`) that serves it; a region without
    one gets an OCI layout under <data_dir>/registry/<repositoryName>:<tag>.
    """

    data_dir: Path
    registries: Mapping[str, str] = field(default_factory=dict)
    registry_tls_verify: bool = True
    poll_interval: float = 0.25
    objects: Resolver | None = None
    """Where `logging.s3Logs` uploads go (Kiln's object store)."""
    image_stores: ImageStores | None = None
    """Where each region keeps its AMI disks; None: every region under <data_dir>/amis."""
    advisories: AdvisorySource | None = None
    """What CollectImageScanFindings matches against; None: Debian's security archive on the
    mirror apt uses (kiln.engine.scan_step.advisory_source)."""

    def stores(self) -> ImageStores:
        """Every region's AMI disk store."""
        return self.image_stores or ImageStores.under(self.data_dir)


@dataclass
class BuildRun:
    database: Database
    host: BuildHost
    config: EngineConfig
    image_arn: str
    account: str
    region: str
    name: str
    version: str
    build_number: int
    plan: BuildPlan
    notes: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        """The value of the `kiln.build` annotation on this build's instances."""
        return hashlib.sha256(self.image_arn.encode()).hexdigest()[:20]

    @property
    def selector(self) -> str:
        return f"{BUILD_ANNOTATION}={self.token}"

    @property
    def labels(self) -> dict[str, str]:
        return {BUILD_ANNOTATION: self.token, "kiln.image": self.image_arn}

    @property
    def output_image(self) -> str:
        """The local image a container build commits to (removed once distributed)."""
        return f"localhost/kiln/build/{self.name}:{self.version}-{self.build_number}"

    @property
    def log_root(self) -> Path:
        return build_log_root(
            self.config.data_dir,
            account=self.account,
            region=self.region,
            name=self.name,
            version=self.version,
            build=self.build_number,
        )

    def record(self, kind: LedgerKind, ref: str) -> int:
        return ledger.record(self.database, self.image_arn, kind, ref)

    def status(self) -> ImageStatus:
        with self.database.transaction() as session:
            row = resources.by_arn(session, self.image_arn)
            return ImageStatus.CANCELLED if row is None else status_of(row)

    def cancelled(self) -> bool:
        return self.status() is ImageStatus.CANCELLED

    def variables(self, workflow_type: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """The `$.imagebuilder.*` system variables."""
        recipe = self.name
        return {
            "cloudWatchLogGroup": f"/aws/imagebuilder/{recipe}",
            "cloudWatchLogStream": f"{self.version}/{self.build_number}",
            "collectImageMetadata": self.plan.collect_metadata,
            "collectImageScanFindings": self.plan.scan_findings,
            "dateTime": aws_datetime(now or utcnow()),
            "imageBuildNumber": self.build_number,
            "imageId": self.plan.parent_image,
            "imageName": self.name,
            "imageType": self.plan.image_type,
            "imageVersionNumber": self.version,
            "instanceProfileName": "",
            "platform": self.plan.platform,
            "s3Logs": {},
            "securityGroups": [],
            "sourceImageARN": self.plan.parent_image,
            "subnetId": "",
            "terminateInstanceOnFailure": self.plan.terminate_on_failure,
            "workflowPhase": "Test" if workflow_type == "TEST" else "Build",
            "workingDirectory": self.plan.working_directory,
        }
