"""`kiln demo`: Kiln's main job on the embedded default, end to end over the real wire.

It serves the API on a loopback port, sets up the prerequisites with IAM (a role holding the
managed policies, in an instance profile), registers the example components, creates a recipe
and an infrastructure configuration, builds the image, and says where the image is and how to
run it. Every step is idempotent: a second run reuses what the first made and builds the next
build version.

- `kiln demo`: a container recipe on Kiln's managed Debian 12 base, built with podman, an OCI
  image at the end;
- `kiln demo --vm`: an image recipe on Kiln's managed Debian 12 VM base disk, built in a QEMU
  VM (a component installs GNU hello and writes /etc/kiln-greeting), tested in a second VM booted
  from the new AMI (a test component checks both), an AMI (a qcow2 disk) at the end.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import ClientError

from kiln.amis.stores import ImageStores
from kiln.app import Kiln
from kiln.cli.credentials import print_credentials
from kiln.cli.images import images
from kiln.cli.serving import background_server
from kiln.services.iam.bootstrap import NewCredentials
from kiln.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_COMPONENT = EXAMPLES / "components" / "hello-kiln.yaml"
VM_COMPONENT = EXAMPLES / "components" / "hello-kiln-vm.yaml"
VM_TEST_COMPONENT = EXAMPLES / "components" / "hello-kiln-vm-test.yaml"
VM_PARENT = "arn:aws:imagebuilder:{region}:aws:image/debian-12-x86/x.x.x"
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
INSTANCE_POLICIES = (
    "EC2InstanceProfileForImageBuilder",
    "EC2InstanceProfileForImageBuilderECRContainerBuilds",
    "AmazonSSMManagedInstanceCore",
)
BUILD_TIMEOUT = 1800.0
VM_BUILD_TIMEOUT = 5400.0  # the first run also bootstraps the base disk; TCG boots are slow


def client(endpoint: str, region: str, credentials: NewCredentials, service: str) -> Any:
    return botocore.session.get_session().create_client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
    )


def ensure_instance_profile(iam: Any) -> None:
    """The prerequisites page: role + managed policies (AMI and container builds) + instance
    profile. Attaching is idempotent, so a profile an older demo made gets what it lacks."""
    try:
        iam.get_instance_profile(InstanceProfileName=PROFILE)
        exists = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise
        exists = False
    if not exists:
        iam.create_role(RoleName=PROFILE, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    for policy in INSTANCE_POLICIES:
        iam.attach_role_policy(RoleName=PROFILE, PolicyArn=MANAGED + policy)
    if not exists:
        iam.create_instance_profile(InstanceProfileName=PROFILE)
        iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=PROFILE)


def register_component(ib: Any, name: str, path: Path, description: str) -> str:
    return str(
        ib.create_component(
            name=name,
            semanticVersion="1.0.0",
            platform="Linux",
            description=description,
            data=path.read_text(),
            clientToken=f"kiln-demo-component-{name}-1.0.0",
        )["componentBuildVersionArn"]
    )


def register_infrastructure(ib: Any) -> str:
    return str(
        ib.create_infrastructure_configuration(
            name="kiln-demo",
            instanceProfileName=PROFILE,
            instanceTypes=["t3.small"],
            clientToken="kiln-demo-infrastructure",
        )["infrastructureConfigurationArn"]
    )


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
    return component, recipe, register_infrastructure(ib)


def register_vm(ib: Any, region: str) -> tuple[list[str], str, str]:
    """The VM example: its two components, the image recipe, the infrastructure."""
    components = [
        register_component(
            ib, "hello-kiln-vm", VM_COMPONENT, "Installs GNU hello and writes a greeting"
        ),
        register_component(
            ib, "hello-kiln-vm-test", VM_TEST_COMPONENT, "Checks hello and the greeting"
        ),
    ]
    recipe = ib.create_image_recipe(
        name="hello-kiln-vm",
        semanticVersion="1.0.0",
        description="Kiln's example AMI: Debian 12 with GNU hello and a greeting",
        parentImage=VM_PARENT.format(region=region),
        components=[{"componentArn": arn} for arn in components],
        clientToken="kiln-demo-image-recipe-1.0.0",
    )["imageRecipeArn"]
    return components, recipe, register_infrastructure(ib)


def build(
    ib: Any, recipe: str, infrastructure: str, *, vm: bool = False, timeout: float = BUILD_TIMEOUT
) -> dict[str, Any]:
    member = "imageRecipeArn" if vm else "containerRecipeArn"
    arn = ib.create_image(**{member: recipe}, infrastructureConfigurationArn=infrastructure)[
        "imageBuildVersionArn"
    ]
    print(f"Building {arn} ...", flush=True)
    deadline = time.monotonic() + timeout
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


def run_demo(settings: Settings, *, vm: bool = False) -> int:
    logging.getLogger("kiln.access").setLevel(logging.WARNING)
    kiln = Kiln(settings)
    try:
        kiln.start_builds()
        with background_server(kiln, host=settings.host, port=0) as endpoint:
            credentials = kiln.admin_credentials()
            ensure_instance_profile(client(endpoint, settings.region, credentials, "iam"))
            ib = client(endpoint, settings.region, credentials, "imagebuilder")
            if vm:
                components, recipe, infrastructure = register_vm(ib, settings.region)
                for component in components:
                    print(f"Registered component {component}")
                print(f"Registered image recipe {recipe}")
                image = build(ib, recipe, infrastructure, vm=True, timeout=VM_BUILD_TIMEOUT)
            else:
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
        print(f"Its logs: kiln images logs {image['arn']} --data-dir {kiln.data_dir}")
        return 1
    if vm:
        _print_ami(image, kiln.image_stores, kiln.data_dir)
    else:
        _print_container(image)
    print()
    print("Serve the API and point the AWS CLI at it (credentials: `kiln admin credentials`):")
    print(f"  kiln serve --port {settings.port}")
    print(f"  aws imagebuilder list-images --endpoint-url {served} --region {settings.region}")
    return 0


def _print_container(image: dict[str, Any]) -> None:
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


def _print_ami(image: dict[str, Any], stores: ImageStores, data_dir: Path) -> None:
    print(f"Image {image['arn']} is AVAILABLE as:")
    amis = image["outputResources"].get("amis") or []
    for ami in amis:
        where = stores.for_region(ami["region"]).location.rstrip("/")
        disk = stores.relative(ami["region"], ami["image"])
        print(f"  {ami['image']} ({ami['region']}): {where}/{disk}")
    if not amis:
        return
    print("It is a bootable qcow2 disk (BIOS, virtio, serial console on ttyS0).")
    if "run" in images.commands:
        print("Boot a throw-away copy and read the greeting its component wrote:")
        print(
            f"  kiln images run {amis[0]['image']} --data-dir {data_dir} "
            "--exec 'cat /etc/kiln-greeting'"
        )
