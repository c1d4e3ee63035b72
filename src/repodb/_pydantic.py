"""Schemas and embedded records as pydantic types: the core schema pydantic asks for.

Why: a FastAPI application declares ``response_model=User`` and pydantic
needs to know how to check and serialise a ``User``. Field annotations
read ``Col[int | None]``, which pydantic cannot interpret, and a record's
preloaded associations live outside its dataclass fields. This module
tells pydantic what a record is: its fields by their declared types, and
its associations as optional keys present only when loaded, so a
not-loaded association is left out of the output, never shown as empty.

Fields declared ``redact=True`` are accepted on input and never written on
output, as they never show in a repr or a log. The module is imported by
``_Record.__get_pydantic_core_schema__``, which only pydantic calls: an
application without pydantic never loads it.

Example::

    users = pydantic.TypeAdapter(list[User]).dump_python(repo.all(query(User)), mode="json")
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Optional

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from .schema import NOT_LOADED, Schema, field_annotations, field_options, schema_info

__all__ = ["record_schema"]

# The classes whose schema this thread is building: a User's posts hold Posts
# whose author is a User, which refers back to the definition being built.
_building = threading.local()


def record_schema(cls: type[Any], handler: GetCoreSchemaHandler) -> CoreSchema:
    """The core schema of a schema or embedded record class ``cls``."""
    ref = f"{cls.__module__}.{cls.__qualname__}:{id(cls)}"
    building: set[type[Any]] = _building.__dict__.setdefault("classes", set())
    if cls in building:
        return core_schema.definition_reference_schema(ref)
    building.add(cls)
    try:
        return _record_schema(cls, handler, ref)
    finally:
        building.discard(cls)


def _record_schema(cls: type[Any], handler: GetCoreSchemaHandler, ref: str) -> CoreSchema:
    hints = field_annotations(cls)
    fields: dict[str, core_schema.TypedDictField] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields[f.name] = core_schema.typed_dict_field(
            handler.generate_schema(hints[f.name]),
            required=required,
            serialization_exclude=field_options(f).redact or None,
        )
    associations = schema_info(cls).associations if issubclass(cls, Schema) else {}
    for name, assoc in associations.items():
        related: Any = assoc.related
        shape = list[related] if assoc.cardinality == "many" else Optional[related]  # noqa: UP045
        fields[name] = core_schema.typed_dict_field(handler.generate_schema(shape), required=False)
    shape_schema = core_schema.typed_dict_schema(fields)
    names = tuple(name for name in fields if name not in associations)

    def build(data: dict[str, Any]) -> Any:
        record = cls(**{name: data[name] for name in names if name in data})
        for name in associations:
            if name in data:
                # Where preloading puts a loaded association (schema._AssocAccess).
                record.__dict__[name] = data[name]
        return record

    def members(record: Any) -> dict[str, Any]:
        found = record.__dict__
        out = {name: found[name] for name in names}
        for name in associations:
            value = found.get(name, NOT_LOADED)
            if value is not NOT_LOADED:
                out[name] = value
        return out

    def record_or_data(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        return value if isinstance(value, cls) else handler(value)

    from_data = core_schema.no_info_after_validator_function(build, shape_schema)
    return core_schema.json_or_python_schema(
        json_schema=from_data,
        python_schema=core_schema.no_info_wrap_validator_function(record_or_data, from_data),
        serialization=core_schema.plain_serializer_function_ser_schema(
            members, return_schema=shape_schema
        ),
        ref=ref,
    )
