"""The sidecar's Configuration resource (``--config``): tracing, metrics and logging settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.resources.issues import ConfigError, Issue
from runtime.resources.loader import parse_documents

__all__ = ["SidecarConfiguration", "load_configuration"]


@dataclass(frozen=True, slots=True)
class SidecarConfiguration:
    """The merged ``spec`` of the Configuration documents given with ``--config``."""

    spec: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    @property
    def tracing(self) -> Mapping[str, Any] | None:
        value = self.spec.get("tracing")
        return value if isinstance(value, Mapping) else None

    @property
    def metrics_enabled(self) -> bool | None:
        section = self.spec.get("metrics", self.spec.get("metric"))
        if isinstance(section, Mapping) and "enabled" in section:
            return bool(section["enabled"])
        return None

    @property
    def api_logging(self) -> bool | None:
        logging = self.spec.get("logging")
        api = logging.get("apiLogging") if isinstance(logging, Mapping) else None
        if isinstance(api, Mapping) and "enabled" in api:
            return bool(api["enabled"])
        return None


def load_configuration(paths: Iterable[Path]) -> SidecarConfiguration:
    """Read Configuration files; later files override earlier keys. Raises ConfigError."""
    issues: list[Issue] = []
    spec: dict[str, Any] = {}
    sources: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(str(path), f"cannot read configuration: {exc}"))
            continue
        found = False
        for doc in parse_documents(text, str(path), issues):
            if doc.body.get("kind") != "Configuration":
                continue
            found = True
            body_spec = doc.body.get("spec") or {}
            if not isinstance(body_spec, dict):
                issues.append(Issue(doc.source, "expected a mapping", doc.index, "spec"))
                continue
            spec.update(body_spec)
        if found:
            sources.append(str(path))
        elif not any(i.source == str(path) for i in issues):
            issues.append(Issue(str(path), "no document of kind Configuration in this file"))
    if issues:
        raise ConfigError(issues)
    return SidecarConfiguration(spec=spec, sources=tuple(sources))
