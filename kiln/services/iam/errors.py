"""The IAM errors a client sees, named after the iam model's error shapes.

ClientError
├── NoSuchEntityException          NoSuchEntity, 404
├── EntityAlreadyExistsException   EntityAlreadyExists, 409
├── DeleteConflictException        DeleteConflict, 409
├── LimitExceededException         LimitExceeded, 409
├── InvalidInputException          InvalidInput, 400
├── UnmodifiableEntityException    UnmodifiableEntity, 400 (service-linked roles)
├── PolicyNotAttachableException   PolicyNotAttachable, 400
├── ValidationError                ValidationError, 400 (kiln.protocol.query)
└── MalformedPolicyDocumentError   MalformedPolicyDocument, 400 (kiln.iam)
"""

from __future__ import annotations

from kiln.core.errors import ClientError
from kiln.iam import MalformedPolicyDocumentError
from kiln.protocol.query import ValidationError

__all__ = [
    "DeleteConflictException",
    "EntityAlreadyExistsException",
    "InvalidInputException",
    "LimitExceededException",
    "MalformedPolicyDocumentError",
    "NoSuchEntityException",
    "PolicyNotAttachableException",
    "UnmodifiableEntityException",
    "ValidationError",
]


class NoSuchEntityException(ClientError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExistsException(ClientError):
    code = "EntityAlreadyExists"
    status = 409


class DeleteConflictException(ClientError):
    code = "DeleteConflict"
    status = 409


class LimitExceededException(ClientError):
    code = "LimitExceeded"
    status = 409


class InvalidInputException(ClientError):
    code = "InvalidInput"
    status = 400


class UnmodifiableEntityException(ClientError):
    code = "UnmodifiableEntity"
    status = 400


class PolicyNotAttachableException(ClientError):
    code = "PolicyNotAttachable"
    status = 400
