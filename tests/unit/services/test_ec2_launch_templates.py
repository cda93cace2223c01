"""apply_launch_template_configuration: what distribution does to a launch template, on a real
SQLite store (no server)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete

from kiln.services.ec2 import launch_template_rows as rows
from kiln.services.ec2.launch_templates import (
    LaunchTemplateNotFound,
    apply_launch_template_configuration,
)
from kiln.store.database import Database, sqlite_url
from kiln.store.launch_template_schema import LaunchTemplateRow, LaunchTemplateVersionRow

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-west-2"
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path: Path):
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
    else:
        url = sqlite_url(tmp_path)
    database = Database(url)
    database.migrate()
    with database.transaction() as session:
        session.execute(delete(LaunchTemplateVersionRow))
        session.execute(delete(LaunchTemplateRow))
    yield database
    database.dispose()


def _template(database: Database, *, account: str = ACCOUNT, region: str = REGION) -> str:
    with database.transaction() as session:
        template, _ = rows.create(
            session,
            account=account,
            region=region,
            name="asg-template",
            data={"ImageId": "ami-00000000000000001", "InstanceType": "t3.micro"},
            description="hand made",
            created_by=f"arn:aws:iam::{account}:root",
            tags={},
            now=NOW,
        )
        return template.launch_template_id


def _state(database: Database, template_id: str) -> tuple[int, int, list[tuple[int, dict]]]:
    with database.transaction() as session:
        template = rows.by_id(
            session, account=ACCOUNT, region=REGION, launch_template_id=template_id
        )
        assert template is not None
        listed = [(v.version_number, dict(v.data)) for v in rows.versions(session, template)]
        return template.default_version, template.latest_version, listed


def test_a_new_default_version_carries_the_ami(database):
    template_id = _template(database)
    with database.transaction() as session:
        number = apply_launch_template_configuration(
            session,
            account=ACCOUNT,
            region=REGION,
            launch_template_id=template_id,
            ami_id="ami-0abcdef0123456789",
            set_default=True,
            now=NOW,
        )
    assert number == 2
    default, latest, versions = _state(database, template_id)
    assert (default, latest) == (2, 2)
    assert versions[0] == (2, {"ImageId": "ami-0abcdef0123456789", "InstanceType": "t3.micro"})
    assert versions[1][1]["ImageId"] == "ami-00000000000000001"


def test_without_set_default_the_default_stays_and_is_the_source(database):
    template_id = _template(database)
    with database.transaction() as session:
        template = rows.by_id(
            session, account=ACCOUNT, region=REGION, launch_template_id=template_id
        )
        assert template is not None
        rows.add_version(
            session,
            template,
            data={"ImageId": "ami-00000000000000002", "InstanceType": "c7g.large"},
            description="not the default",
            created_by="me",
            now=NOW,
        )
    with database.transaction() as session:
        number = apply_launch_template_configuration(
            session,
            account=ACCOUNT,
            region=REGION,
            launch_template_id=template_id,
            ami_id="ami-0abcdef0123456789",
            set_default=False,
            now=NOW,
        )
    assert number == 3
    default, latest, versions = _state(database, template_id)
    assert (default, latest) == (1, 3)
    # based on the default version (1), not on the latest (2)
    assert versions[0] == (3, {"ImageId": "ami-0abcdef0123456789", "InstanceType": "t3.micro"})


def test_a_template_of_another_account_or_region_is_not_found(database):
    template_id = _template(database, account=OTHER)
    for account, region in ((ACCOUNT, REGION), (OTHER, "eu-west-1")):
        with database.transaction() as session, pytest.raises(LaunchTemplateNotFound) as caught:
            apply_launch_template_configuration(
                session,
                account=account,
                region=region,
                launch_template_id=template_id,
                ami_id="ami-0abcdef0123456789",
                set_default=True,
                now=NOW,
            )
        assert caught.value.code == "InvalidLaunchTemplateId.NotFound"
        assert template_id in caught.value.message
        assert account in caught.value.message and region in caught.value.message


def test_importable_without_the_server():
    code = (
        "import sys; import kiln.services.ec2.launch_templates as m; "
        "m.apply_launch_template_configuration; "
        "print(sorted(n for n in sys.modules if n.startswith('kiln.server')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
