"""The EC2 service (ec2 query protocol): what Image Builder users do with AMIs and launch
templates. One module per noun; every other EC2 operation answers a clear error.

Errors: kiln.services.ec2.errors.
"""

from __future__ import annotations

from types import ModuleType

from kiln.services.dispatch import ServiceRegistry

SCOPE = (
    "Kiln's EC2 serves the image calls Image Builder users make (DescribeImages, "
    "DeregisterImage, DescribeImageAttribute, ModifyImageAttribute, CopyImage, image states "
    "(deprecation, disable/enable), tags, image imports) and launch templates; it runs no EC2 "
    "instances"
)


def _modules() -> tuple[ModuleType, ...]:
    from kiln.services.ec2 import (
        image_attributes,
        image_states,
        images,
        imports,
        launch_template_versions,
        launch_templates,
        tags,
    )

    return (
        images,
        image_attributes,
        image_states,
        tags,
        launch_templates,
        launch_template_versions,
        imports,
    )


def registry() -> ServiceRegistry:
    from kiln.protocol.model import service_model

    names = service_model("ec2").operation_names
    return ServiceRegistry.collect("ec2", names, _modules(), planned=dict.fromkeys(names, SCOPE))
