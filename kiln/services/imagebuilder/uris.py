"""Documents named by URI (component documents, Dockerfile templates, workflow documents):
read from Kiln's object store, size-capped, as UTF-8 text."""

from __future__ import annotations

from kiln.objectstore import ObjectStoreError, read_uri
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import InvalidParameterValueException


def read_document_uri(ctx: RequestContext, uri: str, *, member: str) -> str:
    """A document named by an S3 URI, read from Kiln's object store."""
    if ctx.objects is None:
        raise InvalidParameterValueException(f"The document at '{uri}' cannot be read here.")
    try:
        raw = read_uri(uri, ctx.objects)
    except ObjectStoreError as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter '{member}' is not valid. "
            f"The document at '{uri}' cannot be read: {exc}"
        ) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParameterValueException(f"The document at '{uri}' is not UTF-8 text.") from exc
