"""Typed models of Dapr's Component resource (``dapr.io/v1alpha1``)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components._metadata import Duration

__all__ = ["ComponentManifest", "MetadataItem", "SecretKeyRef", "format_loc"]

TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9][a-z0-9_-]*)+$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# defer_build: the validators are built at the first resource file read; the embedded
# defaults are made without them (``runtime.resources.defaults``).
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SecretKeyRef(_Model):
    name: str
    key: str | None = None


class MetadataItem(_Model):
    """One ``spec.metadata`` entry: exactly one of value, secretKeyRef, envRef."""

    name: str = Field(min_length=1)
    value: Any = None
    secretKeyRef: SecretKeyRef | None = None  # noqa: N815 (Dapr's field name)
    envRef: str | None = None  # noqa: N815 (Dapr's field name)

    @model_validator(mode="after")
    def _one_source(self) -> MetadataItem:
        given = [self.value is not None, self.secretKeyRef is not None, self.envRef is not None]
        if sum(given) > 1:
            raise ValueError("give only one of value, secretKeyRef, envRef")
        return self


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    name: str
    namespace: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_PATTERN.match(v):
            raise ValueError(f"invalid component name {v!r}: use letters, digits, '.', '_', '-'")
        return v


class ComponentSpec(_Model):
    type: str
    version: str = "v1"
    initTimeout: Duration = 5.0  # noqa: N815
    ignoreErrors: bool = False  # noqa: N815
    metadata: list[MetadataItem] = Field(default_factory=list)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        if not TYPE_PATTERN.match(v):
            raise ValueError(
                f"invalid component type {v!r}: expected <block>.<name>, e.g. state.redis"
            )
        return v


class Auth(_Model):
    secretStore: str  # noqa: N815


class ComponentManifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    apiVersion: str  # noqa: N815
    kind: str
    metadata: ObjectMeta
    spec: ComponentSpec
    auth: Auth | None = None
    scopes: list[str] = Field(default_factory=list)
    # Where the manifest came from (not part of the YAML).
    source: str = ""
    document: int = 0

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def block(self) -> str:
        return self.spec.type.split(".", 1)[0]


def format_loc(loc: tuple[int | str, ...]) -> str:
    """pydantic's location tuple as a dotted path: ``spec.metadata[1].value``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
