"""The one error tree of Kiln.

    KilnError
    ├── ServiceError          AWS-visible: rendered by the server in the protocol's error format.
    │                         `code` is the AWS error code (an error shape name of the model where
    │                         there is one), `status` the HTTP status used when the model has none.
    ├── BuildError            recorded on an image or execution; never sent raw to a client
    └── ConfigurationError    bad settings or environment; the CLI prints it with a hint

Only the server edge, the executor and the CLI catch broadly.
"""

from __future__ import annotations


class KilnError(Exception):
    """Root of every error Kiln raises on purpose."""


class ServiceError(KilnError):
    """An error a client sees, in the AWS shape of the service that answers."""

    code: str = "ServiceException"
    status: int = 500
    sender_fault: bool = False

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ClientError(ServiceError):
    """A ServiceError caused by the request (4xx)."""

    status = 400
    sender_fault = True


class BuildError(KilnError):
    """A build or workflow step failed; the message is recorded on the image."""


class ConfigurationError(KilnError):
    """Kiln cannot run as configured; `hint` says what to change."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint
