"""Printing credentials in the forms the AWS CLI and boto3 take."""

from __future__ import annotations

from kiln.services.iam.bootstrap import NewCredentials


def print_credentials(
    credentials: NewCredentials, *, endpoint: str, region: str, first: bool = False
) -> None:
    if first:
        print(
            f"Kiln created the administrator '{credentials.user_name}' of account "
            f"{credentials.account}. Its key is shown here once; `kiln admin credentials` "
            "prints it again."
        )
    print("# environment variables (bash):")
    print(f"export AWS_ACCESS_KEY_ID={credentials.access_key_id}")
    print(f"export AWS_SECRET_ACCESS_KEY={credentials.secret_access_key}")
    print(f"export AWS_DEFAULT_REGION={region}")
    print(f"export AWS_ENDPOINT_URL={endpoint}")
    print("# or a profile (~/.aws/credentials and ~/.aws/config):")
    print("[kiln]")
    print(f"aws_access_key_id = {credentials.access_key_id}")
    print(f"aws_secret_access_key = {credentials.secret_access_key}")
    print("[profile kiln]")
    print(f"region = {region}")
    print(f"endpoint_url = {endpoint}")
    print()
