"""`filters` of List calls: each filter names a field and values; a row passes when, for every
filter, one of the row's values for that field equals one of the filter's values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kiln.services.imagebuilder.errors import InvalidParameterValueException

Extractor = Callable[[dict[str, Any]], Iterable[Any]]


def apply_filters(
    bodies: list[dict[str, Any]],
    filters: list[dict[str, Any]] | None,
    fields: Mapping[str, Extractor],
) -> list[dict[str, Any]]:
    for spec in filters or []:
        name = str(spec.get("name"))
        if name not in fields:
            raise InvalidParameterValueException(
                f"The filter name '{name}' is not valid. Valid filter names: "
                f"{', '.join(sorted(fields))}."
            )
        wanted = set(spec.get("values") or [])
        extract = fields[name]
        bodies = [body for body in bodies if wanted.intersection(_values(extract(body)))]
    return bodies


def _values(found: Iterable[Any]) -> set[str]:
    return {str(value) for value in found if value is not None}
