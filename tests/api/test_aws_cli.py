"""The unmodified AWS CLI against `kiln serve` (run in-process on a loopback port)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "components" / "hello-kiln.yaml"
AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


def aws(endpoint, credentials, *args, check=True):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
    }
    done = subprocess.run(
        [AWS, *args, "--endpoint-url", endpoint, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_component_lifecycle_with_the_aws_cli(endpoint, admin):
    created = json.loads(
        aws(
            endpoint,
            admin,
            "imagebuilder",
            "create-component",
            "--name",
            "cli-hello",
            "--semantic-version",
            "1.0.0",
            "--platform",
            "Linux",
            "--data",
            f"file://{EXAMPLE}",
        ).stdout
    )
    arn = created["componentBuildVersionArn"]
    for version in ("1.0.1", "1.0.2"):
        aws(
            endpoint,
            admin,
            "imagebuilder",
            "create-component",
            "--name",
            "cli-hello",
            "--semantic-version",
            version,
            "--platform",
            "Linux",
            "--data",
            f"file://{EXAMPLE}",
        )

    got = json.loads(
        aws(
            endpoint, admin, "imagebuilder", "get-component", "--component-build-version-arn", arn
        ).stdout
    )
    assert got["component"]["name"] == "cli-hello"

    # The CLI paginates on its own with --page-size: every version comes back.
    listed = json.loads(
        aws(endpoint, admin, "imagebuilder", "list-components", "--page-size", "1").stdout
    )
    assert sorted(c["version"] for c in listed["componentVersionList"]) == [
        "1.0.0",
        "1.0.1",
        "1.0.2",
    ]

    duplicate = aws(
        endpoint,
        admin,
        "imagebuilder",
        "create-component",
        "--name",
        "cli-hello",
        "--semantic-version",
        "1.0.0",
        "--platform",
        "Linux",
        "--data",
        f"file://{EXAMPLE}",
        check=False,
    )
    assert duplicate.returncode != 0
    assert "ResourceAlreadyExistsException" in duplicate.stderr

    bad = aws(
        endpoint,
        admin,
        "imagebuilder",
        "get-component",
        "--component-build-version-arn",
        "arn:aws:nope",
        check=False,
    )
    assert bad.returncode != 0 and "InvalidParameterValueException" in bad.stderr

    aws(endpoint, admin, "imagebuilder", "delete-component", "--component-build-version-arn", arn)
    gone = aws(
        endpoint,
        admin,
        "imagebuilder",
        "get-component",
        "--component-build-version-arn",
        arn,
        check=False,
    )
    assert "ResourceNotFoundException" in gone.stderr
