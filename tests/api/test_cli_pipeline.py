"""A new user's pipeline, set up and torn down with the unmodified AWS CLI against `kiln serve`.

IAM role and instance profile with the managed policies, a component, an image recipe on
Debian 12, a container recipe, an infrastructure configuration, a distribution configuration
for two regions, a custom BUILD workflow and a scheduled pipeline using it. Teardown goes in
reverse; each deletion is first tried while something still depends on it, and refused.
No build is started.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.test_aws_cli import AWS, aws
from tests.conftest import EC2_TRUST, IMAGEBUILDER_TRUST

PARENT = "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x"
POLICIES = (
    "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilder",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
COMPONENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: InstallTools
        action: ExecuteBash
        inputs:
          commands: ["echo installing tools"]
  - name: validate
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands: ["true"]
"""
WORKFLOW = """name: team-build
description: Launch, build, snapshot.
schemaVersion: 1.0
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    onFailure: Abort
    inputs:
      waitFor: "ssmAgent"
  - name: ApplyBuildComponents
    action: ExecuteComponents
    onFailure: Abort
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
  - name: CreateOutputAMI
    action: CreateImage
    onFailure: Abort
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
  - name: TerminateBuildInstance
    action: TerminateInstance
    onFailure: Continue
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
"""
REFUSED = ("ResourceDependencyException", "ResourceInUseException")

pytestmark = pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")


class Cli:
    """`aws <service> <command> ...` as the administrator; JSON out."""

    def __init__(self, endpoint: str, credentials, files: Path) -> None:
        self.endpoint, self.credentials, self.files = endpoint, credentials, files

    def __call__(self, *args: str) -> dict:
        done = aws(self.endpoint, self.credentials, *args)
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def refused(self, *args: str, codes=REFUSED) -> str:
        done = aws(self.endpoint, self.credentials, *args, check=False)
        assert done.returncode != 0, f"{args} was not refused"
        assert any(f"({code})" in done.stderr for code in codes), done.stderr
        return done.stderr

    def file(self, name: str, content: str | dict) -> str:
        path = self.files / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return f"file://{path}"


@pytest.fixture
def cli(endpoint, admin, tmp_path):
    return Cli(endpoint, admin, tmp_path)


def set_up_iam(cli: Cli) -> str:
    cli("iam", "create-role", "--role-name", "BuildRole",
        "--assume-role-policy-document", cli.file("ec2-trust.json", EC2_TRUST))  # fmt: skip
    for policy in POLICIES:
        cli("iam", "attach-role-policy", "--role-name", "BuildRole", "--policy-arn", policy)
    cli("iam", "create-instance-profile", "--instance-profile-name", "BuildProfile")
    cli("iam", "add-role-to-instance-profile",
        "--instance-profile-name", "BuildProfile", "--role-name", "BuildRole")  # fmt: skip
    trust = cli.file("ib-trust.json", IMAGEBUILDER_TRUST)
    role = cli("iam", "create-role", "--role-name", "PipelineRole",
               "--assume-role-policy-document", trust)  # fmt: skip
    return role["Role"]["Arn"]


def set_up_imagebuilder(cli: Cli, execution_role: str) -> dict[str, str]:
    ib = "imagebuilder"
    made: dict[str, str] = {}
    made["component"] = cli(ib, "create-component", "--name", "tools", "--semantic-version",
        "1.0.0", "--platform", "Linux", "--data", cli.file("tools.yaml", COMPONENT),
    )["componentBuildVersionArn"]  # fmt: skip
    components = cli.file("components.json", [{"componentArn": made["component"]}])
    made["recipe"] = cli(ib, "create-image-recipe", "--name", "web", "--semantic-version",
        "1.0.0", "--parent-image", PARENT, "--components", components,
    )["imageRecipeArn"]  # fmt: skip
    made["container_recipe"] = cli(ib, "create-container-recipe", "--name", "web-container",
        "--semantic-version", "1.0.0", "--container-type", "DOCKER", "--parent-image",
        "debian:12", "--components", components, "--target-repository",
        "service=ECR,repositoryName=web", "--dockerfile-template-data",
        "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:components }}}\n",
    )["containerRecipeArn"]  # fmt: skip
    made["infrastructure"] = cli(ib, "create-infrastructure-configuration", "--name",
        "builders", "--instance-profile-name", "BuildProfile", "--instance-types", "t3.medium",
    )["infrastructureConfigurationArn"]  # fmt: skip
    distributions = [
        {
            "region": region,
            "amiDistributionConfiguration": {"name": "web {{ imagebuilder:buildDate }}"},
        }
        for region in ("us-east-1", "us-west-2")
    ]
    made["distribution"] = cli(ib, "create-distribution-configuration", "--name", "two-regions",
        "--distributions", cli.file("distributions.json", distributions),
    )["distributionConfigurationArn"]  # fmt: skip
    made["workflow"] = cli(ib, "create-workflow", "--name", "team-build", "--semantic-version",
        "1.0.0", "--type", "BUILD", "--data", cli.file("workflow.yaml", WORKFLOW),
    )["workflowBuildVersionArn"]  # fmt: skip
    made["pipeline"] = cli(ib, "create-image-pipeline", "--name", "nightly-web",
        "--image-recipe-arn", made["recipe"],
        "--infrastructure-configuration-arn", made["infrastructure"],
        "--distribution-configuration-arn", made["distribution"],
        "--schedule", "scheduleExpression=cron(0 3 * * ? *),timezone=Europe/Paris",
        "--workflows", cli.file("workflows.json", [{"workflowArn": made["workflow"]}]),
        "--execution-role", execution_role,
    )["imagePipelineArn"]  # fmt: skip
    return made


def test_a_new_users_pipeline_with_the_aws_cli(cli):
    execution_role = set_up_iam(cli)
    made = set_up_imagebuilder(cli, execution_role)
    ib = "imagebuilder"

    pipeline = cli(ib, "get-image-pipeline", "--image-pipeline-arn", made["pipeline"])
    pipeline = pipeline["imagePipeline"]
    assert pipeline["schedule"]["scheduleExpression"] == "cron(0 3 * * ? *)"
    assert pipeline["workflows"] == [{"workflowArn": made["workflow"]}]
    assert pipeline["dateNextRun"]
    distribution = cli(ib, "get-distribution-configuration",
        "--distribution-configuration-arn", made["distribution"])  # fmt: skip
    regions = [d["region"] for d in distribution["distributionConfiguration"]["distributions"]]
    assert regions == ["us-east-1", "us-west-2"]
    listed = cli(ib, "list-image-pipelines")["imagePipelineList"]
    assert [p["arn"] for p in listed] == [made["pipeline"]]

    # What the pipeline uses cannot go while it exists.
    cli.refused(ib, "delete-image-recipe", "--image-recipe-arn", made["recipe"])
    cli.refused(ib, "delete-infrastructure-configuration",
        "--infrastructure-configuration-arn", made["infrastructure"])  # fmt: skip
    cli.refused(ib, "delete-distribution-configuration",
        "--distribution-configuration-arn", made["distribution"])  # fmt: skip
    cli.refused(ib, "delete-workflow", "--workflow-build-version-arn", made["workflow"])
    cli(ib, "delete-image-pipeline", "--image-pipeline-arn", made["pipeline"])

    cli(ib, "delete-workflow", "--workflow-build-version-arn", made["workflow"])
    cli(ib, "delete-distribution-configuration",
        "--distribution-configuration-arn", made["distribution"])  # fmt: skip
    cli(ib, "delete-infrastructure-configuration",
        "--infrastructure-configuration-arn", made["infrastructure"])  # fmt: skip

    # The component is used by both recipes.
    cli.refused(ib, "delete-component", "--component-build-version-arn", made["component"])
    cli(ib, "delete-container-recipe", "--container-recipe-arn", made["container_recipe"])
    cli.refused(ib, "delete-component", "--component-build-version-arn", made["component"])
    cli(ib, "delete-image-recipe", "--image-recipe-arn", made["recipe"])
    cli(ib, "delete-component", "--component-build-version-arn", made["component"])

    # IAM: the role is in the instance profile and has policies attached.
    conflict = ("DeleteConflict",)
    cli.refused("iam", "delete-role", "--role-name", "BuildRole", codes=conflict)
    cli.refused("iam", "delete-instance-profile", "--instance-profile-name", "BuildProfile",
        codes=conflict)  # fmt: skip
    cli("iam", "remove-role-from-instance-profile",
        "--instance-profile-name", "BuildProfile", "--role-name", "BuildRole")  # fmt: skip
    cli("iam", "delete-instance-profile", "--instance-profile-name", "BuildProfile")
    cli.refused("iam", "delete-role", "--role-name", "BuildRole", codes=conflict)
    for policy in POLICIES:
        cli("iam", "detach-role-policy", "--role-name", "BuildRole", "--policy-arn", policy)
    cli("iam", "delete-role", "--role-name", "BuildRole")
    cli("iam", "delete-role", "--role-name", "PipelineRole")

    for command, key in (
        ("list-image-pipelines", "imagePipelineList"),
        ("list-image-recipes", "imageRecipeSummaryList"),
        ("list-container-recipes", "containerRecipeSummaryList"),
        ("list-components", "componentVersionList"),
        ("list-infrastructure-configurations", "infrastructureConfigurationSummaryList"),
        ("list-distribution-configurations", "distributionConfigurationSummaryList"),
        ("list-workflows", "workflowVersionList"),
    ):
        assert cli(ib, command)[key] == [], command
    profiles = cli("iam", "list-instance-profiles")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == []
