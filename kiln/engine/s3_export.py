"""The distribution configuration's `s3ExportConfiguration`: the region's AMI written as a disk
file (RAW, VHD or VMDK) into Kiln's object store, as VM Import/Export writes it for Image Builder.

The export runs as `roleName`, a role of the distributing account that must exist and be allowed
`s3:PutObject` on the object (`<s3Prefix>/export-ami-<17 hex>.<format>`); otherwise that
region's distribution fails naming the role, the account and the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.amis.export import export_key, export_to_object_store, new_export_task_id
from kiln.amis.registry import Ami
from kiln.amis.stores import ImageStores
from kiln.core.errors import BuildError, KilnError
from kiln.engine.context import BuildRun
from kiln.engine.prerequisites import role_may
from kiln.store import iam as iam_store


def export_ami(
    run: BuildRun, stores: ImageStores, ami: Ami, configuration: Mapping[str, Any]
) -> dict[str, Any]:
    """Export `ami` as the configuration says; returns where it went."""
    role_name = str(configuration.get("roleName") or "")
    fmt = str(configuration.get("diskImageFormat") or "")
    bucket = str(configuration.get("s3Bucket") or "")
    where = f"S3 export of {ami.ami_id} in {ami.region}"
    if run.config.objects is None:
        raise BuildError(f"{where}: this Kiln has no object store configured")
    task = new_export_task_id()
    try:
        key = export_key(configuration.get("s3Prefix"), task, fmt)
    except (KilnError, ValueError) as exc:
        raise BuildError(f"{where}: {exc}") from exc
    object_arn = f"arn:aws:s3:::{bucket}/{key}"
    with run.database.transaction() as session:
        role = iam_store.entity(session, account=ami.account, kind="role", name=role_name)
        if role is None:
            raise BuildError(
                f"{where}: the role '{role_name}' named by s3ExportConfiguration.roleName does "
                f"not exist in account {ami.account}"
            )
        if not role_may(session, role, action="s3:PutObject", resource=object_arn):
            raise BuildError(
                f"{where}: AccessDenied: the role '{role_name}' of account {ami.account} is not "
                f"allowed s3:PutObject on {object_arn}"
            )
    try:
        export_to_object_store(run.config.objects, stores.path(ami.disk), fmt, bucket, key)
    except (KilnError, OSError) as exc:
        raise BuildError(f"{where} to s3://{bucket}/{key} failed: {exc}") from exc
    return {
        "region": ami.region,
        "image": ami.ami_id,
        "exportTaskId": task,
        "s3Uri": f"s3://{bucket}/{key}",
    }
