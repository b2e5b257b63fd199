"""Read resource folders: every ``*.yaml``/``*.yml``, several documents per file.

Components are validated structurally here; the other kinds Tandem knows (Subscription,
Resiliency, Configuration) are kept as plain documents for their owners. Kinds Tandem does not
know (HTTPEndpoint, MCPServer, ...) are skipped with a warning, as daprd skips kinds it does not
load. Every problem in every file is collected and raised together as one ``ConfigError``.
Files are read with the bounded reader of ``components._safe_yaml`` (alias bombs, deep nesting).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from pydantic import ValidationError

from runtime.resources.issues import ConfigError, Issue
from runtime.resources.manifest import ComponentManifest, format_loc

__all__ = [
    "KNOWN_KINDS",
    "Document",
    "Resources",
    "collect_resources",
    "document_issues",
    "load_resources",
    "parse_documents",
]

KNOWN_KINDS = frozenset({"Component", "Subscription", "Resiliency", "Configuration"})

log = logging.getLogger("tandem.resources")


class Document(msgspec.Struct, frozen=True):
    source: str
    index: int
    body: dict[str, Any]


def document_issues(doc: Document, exc: ValidationError) -> list[Issue]:
    """``doc``'s validation errors as issues, one per error (pydantic's "Value error, " cut)."""
    return [
        Issue(
            doc.source, err["msg"].removeprefix("Value error, "), doc.index, format_loc(err["loc"])
        )
        for err in exc.errors()
    ]


class Resources(msgspec.Struct):
    components: list[ComponentManifest] = msgspec.field(default_factory=list)
    others: dict[str, list[Document]] = msgspec.field(default_factory=dict)  # kind -> documents
    skipped: list[Document] = msgspec.field(default_factory=list)  # kinds Tandem does not load


def parse_documents(text: str, source: str, issues: list[Issue]) -> list[Document]:
    """The YAML documents of one file; syntax errors become issues with line numbers."""
    # PyYAML is imported at the first file read: the embedded defaults read none
    import yaml

    from components._safe_yaml import ResourceYAMLError, load_all

    docs: list[Document] = []
    try:
        for index, body in enumerate(load_all(text)):
            if body is None:
                continue
            if not isinstance(body, dict):
                issues.append(Issue(source, "expected a mapping at the top of the document", index))
                continue
            docs.append(Document(source, index, body))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        what = "refused" if isinstance(exc, ResourceYAMLError) else "malformed YAML"
        issues.append(Issue(source, f"{what}: {where}{problem}"))
    return docs


def _files(paths: Iterable[Path], issues: list[Issue]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            issues.append(Issue(str(path), "resources path does not exist"))
    return files


def load_resources(paths: Iterable[Path]) -> Resources:
    """Load and validate; raises ConfigError listing every problem found."""
    resources, issues = collect_resources(paths)
    if issues:
        raise ConfigError(issues)
    return resources


def collect_resources(paths: Iterable[Path]) -> tuple[Resources, list[Issue]]:
    """The valid resources and every problem found (the invalid documents are left out), so
    that later checks of the valid ones can report their problems in the same ConfigError."""
    issues: list[Issue] = []
    resources = Resources()
    seen: dict[str, ComponentManifest] = {}
    for file in _files(paths, issues):
        from components._safe_yaml import MAX_FILE_BYTES

        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                issues.append(Issue(str(file), f"refused: larger than {MAX_FILE_BYTES >> 20} MiB"))
                continue
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(str(file), f"cannot read: {exc}"))
            continue
        for doc in parse_documents(text, str(file), issues):
            kind = doc.body.get("kind")
            if not isinstance(kind, str) or not kind:
                issues.append(
                    Issue(
                        doc.source,
                        f"missing kind; Tandem loads: {', '.join(sorted(KNOWN_KINDS))}",
                        doc.index,
                        "kind",
                    )
                )
                continue
            if kind not in KNOWN_KINDS:
                log.warning(
                    "%s: skipped: kind %r is not supported by Tandem (it loads: %s)",
                    Issue(doc.source, "", doc.index).where,
                    kind[:64],
                    ", ".join(sorted(KNOWN_KINDS)),
                )
                resources.skipped.append(doc)
                continue
            if kind != "Component":
                resources.others.setdefault(kind, []).append(doc)
                continue
            try:
                manifest = ComponentManifest.model_validate(
                    {**doc.body, "source": doc.source, "document": doc.index}
                )
            except ValidationError as exc:
                issues.extend(
                    Issue(doc.source, err["msg"], doc.index, format_loc(err["loc"]))
                    for err in exc.errors()
                )
                continue
            previous = seen.get(manifest.name)
            if previous is not None:
                issues.append(
                    Issue(
                        doc.source,
                        f"duplicate component name {manifest.name!r} "
                        f"(first defined in {previous.source})",
                        doc.index,
                        "metadata.name",
                    )
                )
                continue
            seen[manifest.name] = manifest
            resources.components.append(manifest)
    return resources, issues
