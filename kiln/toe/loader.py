"""Where ExecuteDocument finds nested documents."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kiln.core.errors import KilnError
from kiln.toe.communicator import Communicator


class DocumentLoadError(KilnError):
    """A nested document could not be found or read."""


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    identity: str  # what cycle detection compares (a normalised path, an ARN, an s3 URL)
    label: str  # the filePath recorded in the logs and used as the base of relative references


class DocumentLoader(Protocol):
    def load(
        self, reference: str, *, base: str | None, communicator: Communicator, scratch: Path
    ) -> LoadedDocument: ...


class InstanceDocumentLoader:
    """Reads document paths on the instance (relative ones against the including document's
    folder). Component ARNs and s3:// URLs need a loader from the service layer."""

    def load(
        self, reference: str, *, base: str | None, communicator: Communicator, scratch: Path
    ) -> LoadedDocument:
        if reference.startswith(("arn:", "s3://")):
            raise DocumentLoadError(
                f"{reference}: this run has no way to fetch component ARNs "
                "or S3 documents; give a file path"
            )
        if posixpath.isabs(reference):
            path = reference
        elif base is not None and posixpath.isabs(base):
            path = posixpath.join(posixpath.dirname(base), reference)
        else:
            raise DocumentLoadError(
                f"{reference}: a relative path needs an including document with an absolute path"
            )
        path = posixpath.normpath(path)
        local = scratch / f"nested-{abs(hash(path))}.yaml"
        try:
            communicator.download(path, local)
            text = local.read_bytes().decode("utf-8")
        except (OSError, KilnError) as exc:
            raise DocumentLoadError(f"cannot read document {path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise DocumentLoadError(f"document {path} is not UTF-8 text") from exc
        finally:
            local.unlink(missing_ok=True)
        return LoadedDocument(text=text, identity=path, label=path)
