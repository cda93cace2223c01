from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiln.core.errors import ConfigurationError
from kiln.objectstore import LocalBackend, ObjectStoreConfig, S3Backend

DATA = Path("/var/lib/kiln")


def test_without_settings_every_bucket_is_a_local_folder() -> None:
    config = ObjectStoreConfig.from_environ({}, data_dir=DATA)
    assert config == ObjectStoreConfig.local(DATA)
    assert config.backend_for("any-bucket") == LocalBackend(DATA / "objects")


def test_a_global_s3_backend_with_per_bucket_overrides() -> None:
    environ = {
        "KILN_S3_ENDPOINT": "http://seaweed:8333",
        "KILN_S3_ACCESS_KEY": "AK",
        "KILN_S3_SECRET_KEY": "SK",
        "KILN_S3_BUCKETS": json.dumps(
            {
                "scratch": "local",
                "mirror": "https://minio.example:9000",
                "archive": {
                    "endpoint_url": "https://s3.example",
                    "access_key": "AK2",
                    "secret_key": "SK2",
                    "region": "eu-west-1",
                },
            }
        ),
    }
    config = ObjectStoreConfig.from_environ(environ, data_dir=DATA, region="us-west-2")
    assert config.backend_for("logs") == S3Backend("http://seaweed:8333", "AK", "SK", "us-west-2")
    assert config.backend_for("scratch") == LocalBackend(DATA / "objects")
    assert config.backend_for("mirror") == S3Backend(
        "https://minio.example:9000", "AK", "SK", "us-west-2"
    )
    assert config.backend_for("archive") == S3Backend(
        "https://s3.example", "AK2", "SK2", "eu-west-1"
    )


def test_secrets_stay_out_of_reprs() -> None:
    backend = S3Backend("http://s3", "AK", "very-secret")
    assert "very-secret" not in repr(backend)


def test_every_problem_is_reported_at_once() -> None:
    environ = {
        "KILN_S3_ENDPOINT": "seaweed:8333",
        "KILN_S3_BUCKETS": json.dumps(
            {"Bad_Name": "local", "ok-bucket": {"endpont_url": "http://x"}, "other": 5}
        ),
    }
    with pytest.raises(ConfigurationError) as caught:
        ObjectStoreConfig.from_environ(environ, data_dir=DATA)
    message = str(caught.value)
    assert "must be an http:// or https:// URL" in message
    assert "needs an access key and a secret key" in message
    assert "invalid bucket name 'Bad_Name'" in message
    assert "unknown fields endpont_url" in message
    assert "KILN_S3_BUCKETS['other'] must be" in message
    assert "KILN_S3_BUCKETS" in caught.value.hint


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]"])
def test_buckets_must_be_a_json_object(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="KILN_S3_BUCKETS"):
        ObjectStoreConfig.from_environ({"KILN_S3_BUCKETS": raw}, data_dir=DATA)
