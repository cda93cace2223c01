"""Lifecycle executions through an unmodified boto3 client: StartResourceStateUpdate, policy
runs (run_lifecycle_policy / run_due, as the scheduler calls them), reading and cancelling."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

from kiln.amis import registry as amis
from kiln.cli.serving import background_server
from kiln.protocol.model import service_model
from kiln.services.dispatch import ServiceRegistry
from kiln.services.imagebuilder import FAMILIES, lifecycle_runs, marketplace
from kiln.services.imagebuilder.lifecycle_apply import pending_artifact_removals
from kiln.store import resources
from kiln.store.resources import Scope
from tests.api.factories import REGION, add_image
from tests.conftest import IMAGEBUILDER_TRUST, client_for, sibling_client

AMI = "ami-0123456789abcdef0"
BUILDER_TAGS = {"CreatedBy": "EC2 Image Builder"}


def add_ami(kiln, image, ami=AMI, account=None):
    """The image's AMI in the registry, tagged as Image Builder tags the AMIs it makes."""
    with kiln.database.transaction() as session:
        amis.register(
            session, ami_id=ami, account=account or kiln.default_account, region=REGION,
            name=f"web {ami}", disk=f"{REGION}/{ami}.qcow2", now=dt.datetime.now(dt.UTC),
            image_arn=image, tags={**BUILDER_TAGS, "Ec2ImageBuilderArn": image},
        )  # fmt: skip
    return ami


def ami_row(kiln, ami=AMI):
    with kiln.database.transaction() as session:
        return amis.get(session, ami)


def registry() -> ServiceRegistry:
    names = service_model("imagebuilder").operation_names
    return ServiceRegistry.collect(
        "imagebuilder", names, (*FAMILIES, lifecycle_runs, marketplace), planned={}
    )


@pytest.fixture
def lc(kiln, admin):
    kiln.registries["imagebuilder"] = registry()
    with background_server(kiln) as url:
        yield client_for(url, admin)


LIFECYCLE_POLICY = "arn:aws:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy"


def role_of(ib, name="lifecycle"):
    """An execution role; `powerless` has no policy, the others AWS's managed one."""
    iam = sibling_client(ib, "iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(IMAGEBUILDER_TRUST))[
        "Role"
    ]["Arn"]
    if name != "powerless":
        iam.attach_role_policy(RoleName=name, PolicyArn=LIFECYCLE_POLICY)
    return arn


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]


def ago(days: float) -> str:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def status(ib, arn):
    return ib.get_image(imageBuildVersionArn=arn)["image"]["state"]["status"]


def resources_of(ib, execution_id, parent=None):
    extra = {"parentResourceId": parent} if parent else {}
    return ib.list_lifecycle_execution_resources(lifecycleExecutionId=execution_id, **extra)


# ---------------------------------------------------------------- StartResourceStateUpdate


def test_deprecate_then_restore_an_image(lc, kiln):
    image = add_image(kiln)
    add_ami(kiln, image)
    started = lc.start_resource_state_update(
        resourceArn=image, state={"status": "DEPRECATED"}, includeResources={"amis": True}
    )
    execution_id = started["lifecycleExecutionId"]
    assert execution_id.startswith("lce-") and started["resourceArn"] == image

    got = lc.get_image(imageBuildVersionArn=image)["image"]
    assert got["state"]["status"] == "DEPRECATED"
    assert got["lifecycleExecutionId"] == execution_id
    assert isinstance(got["deprecationTime"], dt.datetime)
    assert got["outputResources"]["amis"][0]["state"] == {"status": "DEPRECATED"}
    execution = lc.get_lifecycle_execution(lifecycleExecutionId=execution_id)["lifecycleExecution"]
    assert execution["state"] == {"status": "SUCCESS"}
    assert execution["resourcesImpactedSummary"] == {"hasImpactedResources": True}
    assert "lifecyclePolicyArn" not in execution

    listed = resources_of(lc, execution_id)
    assert listed["lifecycleExecutionState"] == {"status": "SUCCESS"}
    [top] = listed["resources"]
    assert top["resourceId"] == image and top["action"]["name"] == "DEPRECATE"
    assert top["state"] == {"status": "SUCCESS"} and top["region"] == REGION
    [ami] = resources_of(lc, execution_id, parent=image)["resources"]
    assert ami["resourceId"] == AMI and ami["action"]["name"] == "DEPRECATE"
    assert ami["state"] == {"status": "SUCCESS"} and ami["region"] == REGION
    assert ami["accountId"] == kiln.default_account
    assert ami_row(kiln).deprecation_time is not None

    restored = lc.start_resource_state_update(
        resourceArn=image, state={"status": "AVAILABLE"}, includeResources={"amis": True}
    )
    got = lc.get_image(imageBuildVersionArn=image)["image"]
    assert got["state"]["status"] == "AVAILABLE" and "deprecationTime" not in got
    assert ami_row(kiln).deprecation_time is None
    again = lc.start_resource_state_update(resourceArn=image, state={"status": "AVAILABLE"})
    [skipped] = resources_of(lc, again["lifecycleExecutionId"])["resources"]
    assert skipped["state"]["status"] == "SKIPPED"
    assert "already AVAILABLE" in skipped["state"]["reason"]

    history = lc.list_lifecycle_executions(resourceArn=image)["lifecycleExecutions"]
    assert [e["lifecycleExecutionId"] for e in history] == [
        again["lifecycleExecutionId"],
        restored["lifecycleExecutionId"],
        execution_id,
    ]
    page = lc.list_lifecycle_executions(resourceArn=image, maxResults=2)
    assert len(page["lifecycleExecutions"]) == 2 and page["nextToken"]


def test_delete_removes_the_record_and_deregisters_its_amis(lc, kiln):
    image = add_image(kiln)
    add_ami(kiln, image)
    started = lc.start_resource_state_update(
        resourceArn=image,
        state={"status": "DELETED"},
        includeResources={"amis": True, "snapshots": True},
        executionRole=role_of(lc),
    )
    assert error_of(lc.get_image, imageBuildVersionArn=image)["Code"] == (
        "ResourceNotFoundException"
    )
    execution_id = started["lifecycleExecutionId"]
    [ami] = resources_of(lc, execution_id, parent=image)["resources"]
    assert ami["action"]["name"] == "DELETE" and ami["state"]["status"] == "SUCCESS"
    assert lc.list_lifecycle_executions(resourceArn=image)["lifecycleExecutions"]
    assert ami_row(kiln) is None

    with kiln.database.transaction() as session:
        assert pending_artifact_removals(session) == []


def test_an_execution_role_without_the_permission_fails_the_ami(lc, kiln):
    image = add_image(kiln)
    add_ami(kiln, image)
    started = lc.start_resource_state_update(
        resourceArn=image,
        state={"status": "DISABLED"},
        includeResources={"amis": True},
        executionRole=role_of(lc, "powerless"),
    )
    [ami] = resources_of(lc, started["lifecycleExecutionId"], parent=image)["resources"]
    assert ami["state"]["status"] == "FAILED"
    assert "powerless" in ami["state"]["reason"]
    assert "ec2:DisableImage" in ami["state"]["reason"]
    assert ami_row(kiln).state == "available"
    execution = lc.get_lifecycle_execution(lifecycleExecutionId=started["lifecycleExecutionId"])
    state = execution["lifecycleExecution"]["state"]
    assert state["status"] == "FAILED" and "1 of 1 AMIs failed" in state["reason"]
    assert status(lc, image) == "DISABLED"


def test_an_image_in_use_is_not_deleted(lc, kiln):
    image = add_image(kiln)
    recipe = f"arn:aws:imagebuilder:{REGION}:{kiln.default_account}:image-recipe/child/1.0.0"
    with kiln.database.transaction() as session:
        scope = Scope(kiln.default_account, REGION)
        resources.add_reference(session, scope, source_arn=recipe, target_arn=image)
    started = lc.start_resource_state_update(resourceArn=image, state={"status": "DELETED"})
    execution = lc.get_lifecycle_execution(lifecycleExecutionId=started["lifecycleExecutionId"])
    assert execution["lifecycleExecution"]["state"]["status"] == "FAILED"
    [failed] = resources_of(lc, started["lifecycleExecutionId"])["resources"]
    assert failed["state"]["status"] == "FAILED" and recipe in failed["state"]["reason"]
    assert status(lc, image) == "AVAILABLE"


def test_state_update_requests_are_checked(lc, kiln):
    image = add_image(kiln)
    container = add_image(kiln, name="app", type="DOCKER")
    cases = [
        ({"resourceArn": image, "includeResources": {"containers": True}}, "containers"),
        ({"resourceArn": image, "includeResources": {"snapshots": True}}, "snapshots"),
        ({"resourceArn": container, "exclusionRules": {"amis": {"isPublic": True}}}, "amis"),
        ({"resourceArn": image, "executionRole": "missing-role"}, "missing-role"),
    ]
    for extra, named in cases:
        error = error_of(lc.start_resource_state_update, state={"status": "DISABLED"}, **extra)
        assert error["Code"] == "InvalidParameterValueException", extra
        assert named in error["Message"]
    missing = image.replace("/1.0.0/1", "/9.0.0/1")
    error = error_of(
        lc.start_resource_state_update, resourceArn=missing, state={"status": "DISABLED"}
    )
    assert error["Code"] == "ResourceNotFoundException"
    building = add_image(kiln, name="busy", status="BUILDING")
    error = error_of(
        lc.start_resource_state_update, resourceArn=building, state={"status": "DISABLED"}
    )
    assert error["Code"] == "ResourceInUseException"
    assert status(lc, image) == "AVAILABLE"


def test_exclusion_rules_skip_the_image(lc, kiln):
    image = add_image(kiln)
    started = lc.start_resource_state_update(
        resourceArn=image,
        state={"status": "DISABLED"},
        exclusionRules={"amis": {"regions": [REGION]}},
    )
    [skipped] = resources_of(lc, started["lifecycleExecutionId"])["resources"]
    assert skipped["state"]["status"] == "SKIPPED" and REGION in skipped["state"]["reason"]
    execution = lc.get_lifecycle_execution(lifecycleExecutionId=started["lifecycleExecutionId"])
    assert execution["lifecycleExecution"]["resourcesImpactedSummary"] == {
        "hasImpactedResources": False
    }
    assert status(lc, image) == "AVAILABLE"


def test_a_scheduled_update_waits_and_can_be_cancelled(lc, kiln):
    image = add_image(kiln)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    first = lc.start_resource_state_update(
        resourceArn=image, state={"status": "DISABLED"}, updateAt=later
    )["lifecycleExecutionId"]
    execution = lc.get_lifecycle_execution(lifecycleExecutionId=first)["lifecycleExecution"]
    assert execution["state"] == {"status": "PENDING"}
    assert status(lc, image) == "AVAILABLE"
    error = error_of(lc.start_resource_state_update, resourceArn=image, state={"status": "DELETED"})
    assert error["Code"] == "ResourceInUseException"

    assert (
        lc.cancel_lifecycle_execution(lifecycleExecutionId=first)["lifecycleExecutionId"] == first
    )
    state = lc.get_lifecycle_execution(lifecycleExecutionId=first)["lifecycleExecution"]["state"]
    assert state["status"] == "CANCELLED" and "Cancelled by" in state["reason"]
    error = error_of(lc.cancel_lifecycle_execution, lifecycleExecutionId=first)
    assert error["Code"] == "InvalidRequestException"

    second = lc.start_resource_state_update(
        resourceArn=image, state={"status": "DISABLED"}, updateAt=later
    )["lifecycleExecutionId"]
    with kiln.database.transaction() as session:
        assert lifecycle_runs.run_due(session, dt.datetime.now(dt.UTC)) == []
        ran = lifecycle_runs.run_due(session, later + dt.timedelta(minutes=1))
    assert ran == [second]
    assert status(lc, image) == "DISABLED"
    execution = lc.get_lifecycle_execution(lifecycleExecutionId=second)["lifecycleExecution"]
    assert execution["state"] == {"status": "SUCCESS"} and "endTime" in execution


def test_unknown_executions(lc):
    unknown = "lce-00000000-0000-0000-0000-000000000000"
    for call in (
        lc.get_lifecycle_execution,
        lc.list_lifecycle_execution_resources,
        lc.cancel_lifecycle_execution,
    ):
        assert error_of(call, lifecycleExecutionId=unknown)["Code"] == "ResourceNotFoundException"


# ---------------------------------------------------------------- policy runs


def policy(lc, name, details, selection, resource_type="AMI_IMAGE", role=None):
    return lc.create_lifecycle_policy(
        name=name,
        executionRole=role or role_of(lc),
        resourceType=resource_type,
        policyDetails=details,
        resourceSelection=selection,
    )["lifecyclePolicyArn"]


def run(kiln, policy_arn, now=None):
    with kiln.database.transaction() as session:
        row = resources.by_arn(session, policy_arn)
        return lifecycle_runs.run_lifecycle_policy(session, row, now=now or dt.datetime.now(dt.UTC))


def test_a_policy_deprecates_by_age_and_deletes_by_count(lc, kiln):
    web = [add_image(kiln, dateCreated=ago(days)) for days in (100, 80, 60, 40, 1)]
    add_ami(kiln, web[0])
    kept = add_image(kiln, version="1.1.0", dateCreated=ago(90), tags={"keep": "yes"})
    newer_major = add_image(kiln, version="2.0.0", dateCreated=ago(100))
    other = add_image(kiln, name="api", dateCreated=ago(100))
    container = add_image(kiln, type="DOCKER", dateCreated=ago(100))
    arn = policy(
        lc,
        "web-cleanup",
        [
            {
                "action": {"type": "DEPRECATE"},
                "filter": {"type": "AGE", "value": 30, "unit": "DAYS", "retainAtLeast": 2},
            },
            {
                "action": {"type": "DELETE", "includeResources": {"amis": True}},
                "filter": {"type": "COUNT", "value": 3},
                "exclusionRules": {"tagMap": {"keep": "yes"}},
            },
        ],
        {"recipes": [{"name": "web", "semanticVersion": "1.x.x"}]},
    )

    execution_id = run(kiln, arn)

    gone = "ResourceNotFoundException"
    assert error_of(lc.get_image, imageBuildVersionArn=web[0])["Code"] == gone
    assert error_of(lc.get_image, imageBuildVersionArn=web[1])["Code"] == gone
    assert [status(lc, a) for a in web[2:]] == ["DEPRECATED", "AVAILABLE", "AVAILABLE"]
    assert status(lc, kept) == "DEPRECATED"
    for untouched in (newer_major, other, container):
        assert status(lc, untouched) == "AVAILABLE"

    execution = lc.get_lifecycle_execution(lifecycleExecutionId=execution_id)["lifecycleExecution"]
    assert execution["lifecyclePolicyArn"] == arn
    assert execution["state"] == {"status": "SUCCESS"}
    listed = resources_of(lc, execution_id)["resources"]
    actions = {r["resourceId"]: r["action"]["name"] for r in listed}
    assert actions == {web[0]: "DELETE", web[1]: "DELETE", web[2]: "DEPRECATE", kept: "DEPRECATE"}
    assert (
        "older than 30 days"
        in next(r for r in listed if r["resourceId"] == kept)["action"]["reason"]
    )
    [ami] = resources_of(lc, execution_id, parent=web[0])["resources"]
    assert ami["resourceId"] == AMI and ami["action"]["name"] == "DELETE"
    assert ami["state"] == {"status": "SUCCESS"} and ami_row(kiln) is None
    got = lc.get_lifecycle_policy(lifecyclePolicyArn=arn)["lifecyclePolicy"]
    assert isinstance(got["dateLastRun"], dt.datetime)
    listed = lc.list_lifecycle_executions(resourceArn=arn)["lifecycleExecutions"]
    assert [e["lifecycleExecutionId"] for e in listed] == [execution_id]

    rerun = run(kiln, arn)
    execution = lc.get_lifecycle_execution(lifecycleExecutionId=rerun)["lifecycleExecution"]
    assert execution["resourcesImpactedSummary"] == {"hasImpactedResources": False}
    assert resources_of(lc, rerun)["resources"] == []


def test_a_container_policy_selects_by_tag_and_deletes_containers(lc, kiln):
    uri = "registry.local/kiln/app:1.0.0-1"
    outputs = {"containers": [{"region": REGION, "imageUris": [uri]}]}
    old = add_image(
        kiln, name="app", type="DOCKER", dateCreated=ago(20), tags={"team": "a"},
        outputResources=outputs,
    )  # fmt: skip
    young = add_image(kiln, name="app", type="DOCKER", dateCreated=ago(2), tags={"team": "a"})
    untagged = add_image(kiln, name="app", type="DOCKER", dateCreated=ago(20))
    arn = policy(
        lc,
        "containers",
        [
            {
                "action": {"type": "DELETE", "includeResources": {"containers": True}},
                "filter": {"type": "AGE", "value": 1, "unit": "WEEKS"},
            }
        ],
        {"tagMap": {"team": "a"}},
        resource_type="CONTAINER_IMAGE",
    )
    execution_id = run(kiln, arn)
    assert error_of(lc.get_image, imageBuildVersionArn=old)["Code"] == "ResourceNotFoundException"
    assert status(lc, young) == "AVAILABLE" and status(lc, untagged) == "AVAILABLE"
    [container] = resources_of(lc, execution_id, parent=old)["resources"]
    assert container["imageUris"] == [uri] and container["action"]["name"] == "DELETE"


def test_a_policy_whose_role_is_gone_fails(lc, kiln):
    image = add_image(kiln, dateCreated=ago(400))
    arn = policy(
        lc,
        "orphan",
        [{"action": {"type": "DISABLE"}, "filter": {"type": "AGE", "value": 1, "unit": "YEARS"}}],
        {"recipes": [{"name": "web", "semanticVersion": "x.x.x"}]},
        role=role_of(lc, "short-lived"),
    )
    iam = sibling_client(lc, "iam")
    iam.detach_role_policy(RoleName="short-lived", PolicyArn=LIFECYCLE_POLICY)
    iam.delete_role(RoleName="short-lived")
    execution_id = run(kiln, arn)
    state = lc.get_lifecycle_execution(lifecycleExecutionId=execution_id)["lifecycleExecution"]
    assert state["state"]["status"] == "FAILED" and "short-lived" in state["state"]["reason"]
    assert status(lc, image) == "AVAILABLE"


def test_enabled_policies_run_once_a_day(lc, kiln):
    image = add_image(kiln, dateCreated=ago(400))
    details = [{"action": {"type": "DISABLE"}, "filter": {"type": "COUNT", "value": 1}}]
    role = role_of(lc)
    on = policy(
        lc, "daily", details, {"recipes": [{"name": "web", "semanticVersion": "x.x.x"}]}, role=role
    )
    lc.create_lifecycle_policy(
        name="paused", executionRole=role, resourceType="AMI_IMAGE", status="DISABLED",
        policyDetails=details, resourceSelection={"tagMap": {"a": "b"}},
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    with kiln.database.transaction() as session:
        assert [row.arn for row in lifecycle_runs.due_lifecycle_policies(session, now)] == [on]
        [ran] = lifecycle_runs.run_due(session, now)
        assert lifecycle_runs.due_lifecycle_policies(session, now + dt.timedelta(hours=23)) == []
        due = lifecycle_runs.due_lifecycle_policies(session, now + dt.timedelta(days=1))
        assert [row.arn for row in due] == [on]
    assert (
        lc.list_lifecycle_executions(resourceArn=on)["lifecycleExecutions"][0][
            "lifecycleExecutionId"
        ]
        == ran
    )
    assert status(lc, image) == "AVAILABLE"  # COUNT 1 keeps the only image
