"""The catalog checker: is a ``runtime.catalog`` entry backed by a class that matches it?

``entry_problems`` lists everything wrong with an entry, so one run reports them all. A missing
module or class is a problem (a failed test), never a skip; only a missing *driver* (an extra
that is not installed) is left to the caller, through ``missing_drivers``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re

from pydantic import BaseModel, ConfigDict, ValidationError

from components.base import BaseMetadata, Component, ComponentInfo
from runtime.catalog import CatalogEntry

__all__ = ["entry_problems", "load_class", "missing_drivers"]

_TYPE = re.compile(r"[a-z][a-z0-9]*(\.[a-z0-9][a-z0-9-]*)+")
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def missing_drivers(entry: CatalogEntry) -> list[str]:
    """The driver modules of ``entry`` that are not importable here."""
    return [d for d in entry.requires if importlib.util.find_spec(d) is None]


def load_class(entry: CatalogEntry) -> type[Component]:
    """The class ``entry.target`` names; raises LookupError saying what is missing."""
    if not _TARGET.fullmatch(entry.target):
        raise LookupError(f"target {entry.target!r} is not 'package.module:Class'")
    module_name, _, attr = entry.target.partition(":")
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:  # a parent package is missing
        found = None
    if found is None:
        raise LookupError(f"module {module_name} not found")
    module = importlib.import_module(module_name)
    cls = getattr(module, attr, None)
    if cls is None:
        raise LookupError(f"module {module_name} has no attribute {attr}")
    if not isinstance(cls, type):
        raise LookupError(f"{entry.target} is not a class")
    component: type[Component] = cls
    return component


def _invalid_defaults(metadata: type[BaseModel]) -> list[str]:
    """Errors of ``metadata``'s default values under its own validators (required fields aside).

    pydantic does not validate defaults; a subclass with ``validate_default`` does.
    """
    strict: type[BaseModel] = type(
        f"{metadata.__name__}Defaults",
        (metadata,),
        {"model_config": ConfigDict(validate_default=True), "__module__": __name__},
    )
    try:
        strict.model_validate({})
    except ValidationError as exc:
        return [
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors()
            if e["type"] != "missing"
        ]
    return []


def entry_problems(entry: CatalogEntry) -> list[str]:
    """Everything wrong with ``entry``; empty when its class exists and matches it.

    Checks: the type string's form; the target module and class exist and import; the class's
    ``info`` is a ComponentInfo with the entry's type and version; its ``Metadata`` is a
    BaseMetadata whose defaults pass its own validation. Drivers must be importable (see
    ``missing_drivers``), or importing the module may fail for that reason.
    """
    problems: list[str] = []
    if not _TYPE.fullmatch(entry.type):
        problems.append(f"type {entry.type!r} is not '<block>.<name>' in lower case")
    try:
        cls = load_class(entry)
    except LookupError as exc:
        return [*problems, str(exc)]
    except Exception as exc:  # an import error inside the module is the entry's problem too
        return [*problems, f"importing {entry.target} failed: {exc!r}"]
    info = getattr(cls, "info", None)
    if not isinstance(info, ComponentInfo):
        problems.append(f"{entry.target}.info is not a ComponentInfo: {info!r}")
    else:
        if info.type != entry.type:
            problems.append(f"{entry.target}.info.type is {info.type!r}, not {entry.type!r}")
        if info.version != entry.version:
            problems.append(
                f"{entry.target}.info.version is {info.version!r}, not {entry.version!r}"
            )
    metadata = getattr(cls, "Metadata", None)
    if not (isinstance(metadata, type) and issubclass(metadata, BaseMetadata)):
        problems.append(f"{entry.target}.Metadata is not a BaseMetadata subclass: {metadata!r}")
    else:
        problems += [f"{entry.target} metadata default {e}" for e in _invalid_defaults(metadata)]
    return problems
