"""DescribeImageAttribute, ModifyImageAttribute, ResetImageAttribute.

Launch permissions are kept as EC2 names them (kiln.amis.registry); both request forms change
them: `LaunchPermission={Add: [...], Remove: [...]}` and the older `Attribute=launchPermission,
OperationType=add|remove, UserIds / UserGroups / OrganizationArns / OrganizationalUnitArns`.
Only the owner reads or changes launch permissions or changes anything; an account that may
launch the AMI reads its other attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from kiln.amis import registry
from kiln.amis.registry import DISABLED, Ami
from kiln.services.context import RequestContext
from kiln.services.ec2.ami_access import dry_run, find_owned, find_visible, known_image_stores
from kiln.services.ec2.errors import (
    InvalidAMIAttributeItemValue,
    InvalidAMIIDUnavailable,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    UnsupportedOperation,
)
from kiln.services.ec2.image_shapes import block_device_mappings

Permission = dict[str, str]

ACCOUNT_ID = re.compile(r"^\d{12}$")
ORGANIZATION_ARN = re.compile(
    r"^arn:aws[a-z-]*:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$"
)
OU_ARN = re.compile(
    r"^arn:aws[a-z-]*:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$"
)
_KINDS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "UserId": ("userId", lambda v: bool(ACCOUNT_ID.match(v))),
    "Group": ("group", lambda v: v == "all"),
    "OrganizationArn": ("organizationArn", lambda v: bool(ORGANIZATION_ARN.match(v))),
    "OrganizationalUnitArn": ("organizationalUnitArn", lambda v: bool(OU_ARN.match(v))),
}
_LEGACY_LISTS = (
    ("UserIds", "UserId"),
    ("UserGroups", "Group"),
    ("OrganizationArns", "OrganizationArn"),
    ("OrganizationalUnitArns", "OrganizationalUnitArn"),
)


# -- DescribeImageAttribute --------------------------------------------------------------------


def describe_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params["Attribute"]
    owner_only = attribute == "launchPermission"
    ami = (find_owned if owner_only else find_visible)(ctx, params["ImageId"])
    dry_run(params)
    out: dict[str, Any] = {"ImageId": ami.ami_id}
    if attribute == "launchPermission":
        out["LaunchPermissions"] = [dict(p) for p in ami.launch_permissions]
    elif attribute == "blockDeviceMapping":
        store = known_image_stores(ctx)
        out["BlockDeviceMappings"] = block_device_mappings(ami, store)
    elif attribute == "productCodes":
        out["ProductCodes"] = []
    else:
        member, value = _ATTRIBUTE_VALUES[attribute]
        text = value(ami)
        out[member] = {"Value": text} if text else {}
    return out


def _manifest(key: str) -> Callable[[Ami], str | None]:
    return lambda ami: _text(ami.manifest.get(key))


def _text(value: Any) -> str | None:
    return str(value) if value else None


_ATTRIBUTE_VALUES: dict[str, tuple[str, Callable[[Ami], str | None]]] = {
    "description": ("Description", lambda ami: ami.description or None),
    "kernel": ("KernelId", lambda _ami: None),
    "ramdisk": ("RamdiskId", lambda _ami: None),
    "sriovNetSupport": ("SriovNetSupport", lambda _ami: "simple"),
    "bootMode": ("BootMode", lambda _ami: "legacy-bios"),
    "tpmSupport": ("TpmSupport", lambda _ami: None),
    "uefiData": ("UefiData", lambda _ami: None),
    "lastLaunchedTime": ("LastLaunchedTime", _manifest("lastLaunchedTime")),
    "imdsSupport": ("ImdsSupport", _manifest("imdsSupport")),
    "deregistrationProtection": ("DeregistrationProtection", lambda _ami: "disabled"),
}


# -- ModifyImageAttribute ----------------------------------------------------------------------


def modify_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ami = find_owned(ctx, params["ImageId"])
    add, remove = _permission_changes(params)
    description = _description_change(params)
    imds = (params.get("ImdsSupport") or {}).get("Value")
    if params.get("ProductCodes"):
        raise UnsupportedOperation(
            "Kiln has no AWS Marketplace: product codes cannot be added to an AMI."
        )
    if not (add or remove) and description is None and imds is None:
        raise MissingParameter(
            "The request must name what to change: LaunchPermission, Description, ImdsSupport, "
            "or Attribute with OperationType and UserIds/UserGroups/OrganizationArns/"
            "OrganizationalUnitArns, or Attribute=description with Value."
        )
    if imds is not None and imds != "v2.0":
        raise InvalidParameterValue(f"Value ({imds}) for parameter ImdsSupport is invalid.")
    if add and ami.state == DISABLED:
        raise InvalidAMIIDUnavailable(
            f"The image '{ami.ami_id}' is disabled: a disabled AMI can't be shared "
            "(enable it first with EnableImage)."
        )
    dry_run(params)
    changes: dict[str, Any] = {}
    if add or remove:
        kept = [p for p in ami.launch_permissions if p not in remove]
        kept += [p for p in add if p not in kept]
        changes["launch_permissions"] = kept
    if description is not None:
        changes["description"] = description
    if imds is not None:
        changes["manifest"] = {**ami.manifest, "imdsSupport": imds}
    registry.update(ctx.session, ami.ami_id, **changes)
    return {}


def _description_change(params: dict[str, Any]) -> str | None:
    given = params.get("Description")
    if given is not None:
        return str(given.get("Value") or "")
    if params.get("Attribute") == "description":
        if params.get("Value") is None:
            raise MissingParameter("The request must contain the parameter Value")
        return str(params["Value"])
    return None


def _permission_changes(params: dict[str, Any]) -> tuple[list[Permission], list[Permission]]:
    modifications = params.get("LaunchPermission")
    legacy = [(kind, value) for member, kind in _LEGACY_LISTS for value in params.get(member) or []]
    attribute = params.get("Attribute")
    if modifications is not None:
        return _checked(modifications.get("Add")), _checked(modifications.get("Remove"))
    if not legacy and attribute != "launchPermission":
        return [], []
    if attribute not in (None, "launchPermission"):
        raise InvalidParameterCombination(
            f"UserIds, UserGroups and organization ARNs change launchPermission, not {attribute}."
        )
    operation = params.get("OperationType")
    if operation not in ("add", "remove"):
        raise MissingParameter(
            "The request must contain the parameter OperationType (add or remove)"
        )
    if not legacy:
        raise MissingParameter(
            "The request must contain UserIds, UserGroups, OrganizationArns or "
            "OrganizationalUnitArns"
        )
    permissions = _checked({kind: value} for kind, value in legacy)
    return (permissions, []) if operation == "add" else ([], permissions)


def _checked(items: Iterable[dict[str, Any]] | None) -> list[Permission]:
    """Each launch permission names exactly one user, group, organization or OU."""
    found: list[Permission] = []
    for item in items or ():
        given = {k: str(v) for k, v in item.items() if v is not None}
        if len(given) != 1:
            raise InvalidParameterValue(
                "A launch permission names exactly one of UserId, Group, OrganizationArn or "
                "OrganizationalUnitArn."
            )
        ((kind, value),) = given.items()
        wire, valid = _KINDS[kind]
        if not valid(value):
            raise InvalidAMIAttributeItemValue(
                f'Invalid attribute item value "{value}" for {wire} item type.'
            )
        if {kind: value} not in found:
            found.append({kind: value})
    return found


# -- ResetImageAttribute -----------------------------------------------------------------------


def reset_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ami = find_owned(ctx, params["ImageId"])
    dry_run(params)
    registry.update(ctx.session, ami.ami_id, launch_permissions=[])
    return {}
