"""Image Builder's error shapes, named as the model names them (status comes from the model
at render time; the class attribute is the same number, for use outside the server)."""

from __future__ import annotations

from kiln.core.errors import ClientError, ServiceError
from kiln.core.pagination import InvalidPaginationTokenException
from kiln.protocol.restjson import InvalidParameterValueException

__all__ = [
    "AccessDeniedException",
    "ForbiddenException",
    "IdempotentParameterMismatchException",
    "InvalidPaginationTokenException",
    "InvalidParameterCombinationException",
    "InvalidParameterException",
    "InvalidParameterValueException",
    "InvalidRequestException",
    "InvalidVersionNumberException",
    "NotImplementedByKiln",
    "ResourceAlreadyExistsException",
    "ResourceDependencyException",
    "ResourceInUseException",
    "ResourceNotFoundException",
    "ServiceException",
]


class ServiceException(ServiceError):
    code = "ServiceException"
    status = 500


class InvalidRequestException(ClientError):
    code = "InvalidRequestException"


class InvalidParameterException(ClientError):
    code = "InvalidParameterException"


class InvalidParameterCombinationException(ClientError):
    code = "InvalidParameterCombinationException"


class InvalidVersionNumberException(ClientError):
    code = "InvalidVersionNumberException"


class IdempotentParameterMismatchException(ClientError):
    code = "IdempotentParameterMismatchException"


class ResourceAlreadyExistsException(ClientError):
    code = "ResourceAlreadyExistsException"


class ResourceDependencyException(ClientError):
    code = "ResourceDependencyException"


class ResourceInUseException(ClientError):
    code = "ResourceInUseException"


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"
    status = 404


class ForbiddenException(ClientError):
    code = "ForbiddenException"
    status = 403


class AccessDeniedException(ClientError):
    code = "AccessDeniedException"
    status = 403


class NotImplementedByKiln(InvalidRequestException):
    """An operation of the model that Kiln does not serve yet."""

    def __init__(self, operation: str, issue: str, *, code: str | None = None) -> None:
        super().__init__(
            f"Kiln does not implement {operation} yet ({issue}). "
            "The request was understood and nothing was changed.",
            code=code,
        )
