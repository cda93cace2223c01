"""`kiln demo`: the main job on the embedded default, end to end over the real wire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session

from kiln.app import Kiln
from kiln.cli.credentials import print_credentials
from kiln.cli.serving import background_server
from kiln.services.iam.bootstrap import NewCredentials
from kiln.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_COMPONENT = EXAMPLES / "components" / "hello-kiln.yaml"


def imagebuilder_client(endpoint: str, region: str, credentials: NewCredentials) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "imagebuilder",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
    )


def run_demo(settings: Settings) -> None:
    kiln = Kiln(settings)
    try:
        with background_server(kiln, host=settings.host, port=0) as endpoint:
            credentials = kiln.admin_credentials()
            client = imagebuilder_client(endpoint, settings.region, credentials)
            created = client.create_component(
                name="hello-kiln",
                semanticVersion="1.0.0",
                platform="Linux",
                description="The example component shipped with Kiln",
                data=EXAMPLE_COMPONENT.read_text(),
                clientToken="kiln-demo-hello-kiln-1.0.0",
            )
            arn = created["componentBuildVersionArn"]
            component = client.get_component(componentBuildVersionArn=arn)["component"]
            listed = client.list_components()["componentVersionList"]
    finally:
        kiln.close()
    if kiln.new_credentials is not None:
        print_credentials(
            kiln.new_credentials,
            endpoint=f"http://{settings.host}:{settings.port}",
            region=settings.region,
            first=True,
        )
    print(f"Registered component {arn} ({component['type']}, {component['platform']}).")
    print(f"Account {kiln.default_account} holds {len(listed)} component version(s).")
    print(f"Data directory: {kiln.data_dir}")
    print()
    print("Serve the API and point the AWS CLI at it (credentials: `kiln admin credentials`):")
    print(f"  kiln serve --port {settings.port}")
    print(
        f"  aws imagebuilder list-components --endpoint-url "
        f"http://{settings.host}:{settings.port} --region {settings.region}"
    )
    print(f"  aws imagebuilder get-component --component-build-version-arn {arn} \\")
    print(f"      --endpoint-url http://{settings.host}:{settings.port} --region {settings.region}")
