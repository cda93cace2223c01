"""EC2's error codes, as EC2 spells them on the wire (`InvalidAMIID.NotFound`...).

EC2's model declares no error shapes, so the code is the class's `code` and the status its
`status` (400 unless said). Every class is a ClientError: the server renders it in the ec2
dialect, `<Response><Errors><Error><Code>..`.
"""

from __future__ import annotations

from kiln.core.errors import ClientError

__all__ = [
    "AuthFailure",
    "DryRunOperation",
    "InvalidAMIAttributeItemValue",
    "InvalidAMIIDMalformed",
    "InvalidAMIIDNotFound",
    "InvalidAMIIDUnavailable",
    "InvalidAMINameDuplicate",
    "InvalidAMINameMalformed",
    "InvalidID",
    "InvalidPaginationToken",
    "InvalidParameterCombination",
    "InvalidParameterDependency",
    "InvalidParameterValue",
    "InvalidUserIDMalformed",
    "MissingParameter",
    "TagLimitExceeded",
    "UnsupportedOperation",
]


class AuthFailure(ClientError):
    """The caller may see the image but is not its owner."""

    code = "AuthFailure"


class DryRunOperation(ClientError):
    code = "DryRunOperation"
    status = 412


class InvalidAMIIDMalformed(ClientError):
    code = "InvalidAMIID.Malformed"


class InvalidAMIIDNotFound(ClientError):
    code = "InvalidAMIID.NotFound"


class InvalidAMIIDUnavailable(ClientError):
    code = "InvalidAMIID.Unavailable"


class InvalidAMINameDuplicate(ClientError):
    code = "InvalidAMIName.Duplicate"


class InvalidAMINameMalformed(ClientError):
    code = "InvalidAMIName.Malformed"


class InvalidAMIAttributeItemValue(ClientError):
    code = "InvalidAMIAttributeItemValue"


class InvalidID(ClientError):
    code = "InvalidID"


class InvalidPaginationToken(ClientError):
    code = "InvalidPaginationToken"


class InvalidParameterCombination(ClientError):
    code = "InvalidParameterCombination"


class InvalidParameterDependency(ClientError):
    code = "InvalidParameterDependency"


class InvalidParameterValue(ClientError):
    code = "InvalidParameterValue"


class InvalidUserIDMalformed(ClientError):
    code = "InvalidUserID.Malformed"


class MissingParameter(ClientError):
    code = "MissingParameter"


class TagLimitExceeded(ClientError):
    code = "TagLimitExceeded"


class UnsupportedOperation(ClientError):
    code = "UnsupportedOperation"
