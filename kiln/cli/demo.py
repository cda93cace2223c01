"""`kiln demo`: Kiln's main job on the embedded default, end to end over the real wire.

It serves the API on a loopback port, sets up the prerequisites with IAM (a role holding the
managed policies, in an instance profile), registers the example component, creates a
container recipe and an infrastructure configuration, builds the image with podman, and says
where the image is and how to run it. Every step is idempotent: a second run reuses what the
first made and builds the next build version.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import ClientError

from kiln.app import Kiln
from kiln.cli.credentials import print_credentials
from kiln.cli.serving import background_server
from kiln.services.iam.bootstrap import NewCredentials
from kiln.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_COMPONENT = EXAMPLES / "components" / "hello-kiln.yaml"
PROFILE = "KilnDemoInstanceProfile"
MANAGED = "arn:aws:iam::aws:policy/"
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
TEMPLATE = (
    "FROM {{{ imagebuilder:parentImage }}}\n"
    "{{{ imagebuilder:environments }}}\n"
    "{{{ imagebuilder:components }}}\n"
    'CMD ["cat", "/etc/kiln-greeting"]\n'
)
BUILD_TIMEOUT = 1800.0


def client(endpoint: str, region: str, credentials: NewCredentials, service: str) -> Any:
    return botocore.session.get_session().create_client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
    )


def ensure_instance_profile(iam: Any) -> None:
    """The prerequisites page, done once: role + managed policies + instance profile."""
    try:
        iam.get_instance_profile(InstanceProfileName=PROFILE)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise
    iam.create_role(RoleName=PROFILE, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    for policy in (
        "EC2InstanceProfileForImageBuilderECRContainerBuilds",
        "AmazonSSMManagedInstanceCore",
    ):
        iam.attach_role_policy(RoleName=PROFILE, PolicyArn=MANAGED + policy)
    iam.create_instance_profile(InstanceProfileName=PROFILE)
    iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=PROFILE)


def register(ib: Any) -> tuple[str, str, str]:
    """Component, container recipe, infrastructure configuration (replayed by clientToken)."""
    component = ib.create_component(
        name="hello-kiln",
        semanticVersion="1.0.0",
        platform="Linux",
        description="The example component shipped with Kiln",
        data=EXAMPLE_COMPONENT.read_text(),
        clientToken="kiln-demo-component-1.0.0",
    )["componentBuildVersionArn"]
    recipe = ib.create_container_recipe(
        name="hello-kiln",
        semanticVersion="1.0.0",
        containerType="DOCKER",
        parentImage="debian:12",
        components=[{"componentArn": component}],
        dockerfileTemplateData=TEMPLATE,
        targetRepository={"service": "ECR", "repositoryName": "kiln/hello-kiln"},
        clientToken="kiln-demo-recipe-1.0.0",
    )["containerRecipeArn"]
    infrastructure = ib.create_infrastructure_configuration(
        name="kiln-demo",
        instanceProfileName=PROFILE,
        instanceTypes=["t3.small"],
        clientToken="kiln-demo-infrastructure",
    )["infrastructureConfigurationArn"]
    return component, recipe, infrastructure


def build(ib: Any, recipe: str, infrastructure: str) -> dict[str, Any]:
    arn = ib.create_image(containerRecipeArn=recipe, infrastructureConfigurationArn=infrastructure)[
        "imageBuildVersionArn"
    ]
    print(f"Building {arn} ...", flush=True)
    deadline = time.monotonic() + BUILD_TIMEOUT
    seen = None
    while True:
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        status = image["state"]["status"]
        if status != seen:
            print(f"  {status}", flush=True)
            seen = status
        if status in ("AVAILABLE", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            return dict(image)
        time.sleep(2)


def run_demo(settings: Settings) -> int:
    logging.getLogger("kiln.access").setLevel(logging.WARNING)
    kiln = Kiln(settings)
    try:
        kiln.start_builds()
        with background_server(kiln, host=settings.host, port=0) as endpoint:
            credentials = kiln.admin_credentials()
            ensure_instance_profile(client(endpoint, settings.region, credentials, "iam"))
            ib = client(endpoint, settings.region, credentials, "imagebuilder")
            component, recipe, infrastructure = register(ib)
            print(f"Registered component {component}")
            print(f"Registered container recipe {recipe}")
            image = build(ib, recipe, infrastructure)
    finally:
        kiln.close()
    served = f"http://{settings.host}:{settings.port}"
    if kiln.new_credentials is not None:
        print_credentials(kiln.new_credentials, endpoint=served, region=settings.region, first=True)
    print(f"Data directory: {kiln.data_dir}")
    if image["state"]["status"] != "AVAILABLE":
        print(f"The build ended {image['state']['status']}: {image['state'].get('reason')}")
        return 1
    uris = [uri for c in image["outputResources"]["containers"] for uri in c["imageUris"]]
    print(f"Image {image['arn']} is AVAILABLE at:")
    for uri in uris:
        print(f"  {uri}")
    if uris and uris[0].startswith("oci:"):
        layout, _, tag = uris[0][len("oci:") :].rpartition(":")
        local = f"localhost/kiln/{Path(layout).name}:{tag}"
        print("Run it with podman (it prints the greeting its component wrote):")
        print(f"  skopeo copy oci:{layout}:{tag} containers-storage:{local}")
        print(f"  podman run --rm {local}")
    print()
    print("Serve the API and point the AWS CLI at it (credentials: `kiln admin credentials`):")
    print(f"  kiln serve --port {settings.port}")
    print(f"  aws imagebuilder list-images --endpoint-url {served} --region {settings.region}")
    return 0
