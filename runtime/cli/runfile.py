"""The run file of ``tandem run -f``: the Dapr CLI's multi-app run template, validated.

Accepted: ``version: 1``, ``common`` (defaults for every app) and ``apps[]`` with the Dapr
CLI's keys. Paths are relative to the run file's folder. Every error names the file and the
field (``tandem.yaml: apps[1].appPort: ...``); unknown keys are errors too, so a typo is never
silently ignored.
"""

# ruff: noqa: N815  (the fields are the Dapr CLI run file's keys, as written)
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["AppSpec", "RunFile", "RunFileError", "load_run_file"]

Port = Annotated[int, Field(ge=1, le=65535)]
Scalar = str | int | float | bool


class RunFileError(Exception):
    """The run file cannot be used; the message names the file and the field."""


class _Options(BaseModel):
    """Keys allowed in ``common`` and in each app (the app's value wins)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=False)

    resourcesPath: str | None = None
    resourcesPaths: list[str] | None = None
    configFilePath: str | None = None
    appProtocol: str | None = None
    appChannelAddress: str | None = None
    appHealthCheckPath: str | None = None
    appHealthProbeInterval: int | None = None
    appHealthProbeTimeout: int | None = None
    appHealthThreshold: int | None = None
    enableAppHealthCheck: bool | None = None
    logLevel: str | None = None
    enableApiLogging: bool | None = None
    enableMetrics: bool | None = None
    apiListenAddresses: str | None = None
    daprHTTPMaxRequestSize: int | None = None
    daprGracefulShutdownSeconds: int | None = None
    env: dict[str, Scalar] = Field(default_factory=dict)
    # Dapr CLI keys with no meaning here (logs go to the terminal, prefixed with the app id)
    appLogDestination: str | None = None
    daprdLogDestination: str | None = None

    @field_validator("resourcesPaths")
    @classmethod
    def _non_empty(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not all(p.strip() for p in v):
            raise ValueError("paths must not be empty")
        return v


class _App(_Options):
    appID: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    appDirPath: str = "."
    appPort: Port | None = None
    command: list[str] = Field(default_factory=list)
    daprHTTPPort: Port | None = None
    daprGRPCPort: Port | None = None
    daprInternalGRPCPort: Port | None = None
    metricsPort: Port | None = None

    @field_validator("command")
    @classmethod
    def _command(cls, v: list[str]) -> list[str]:
        if v and not v[0].strip():
            raise ValueError("the program (first item) must not be empty")
        return v


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    common: _Options = Field(default_factory=_Options)
    apps: list[_App] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only version 1 is known")
        return v


@dataclass(frozen=True, slots=True)
class AppSpec:
    """One app of the run file, paths resolved; ports None are chosen at start."""

    app_id: str
    app_dir: Path
    command: tuple[str, ...]
    env: dict[str, str]
    resources_paths: tuple[Path, ...]
    config: Path | None
    app_port: int | None
    http_port: int | None
    grpc_port: int | None
    internal_grpc_port: int | None
    metrics_port: int | None
    flags: tuple[str, ...] = field(default=())  # further daprd flags, ``--name=value``


@dataclass(frozen=True, slots=True)
class RunFile:
    path: Path
    apps: tuple[AppSpec, ...]


_FLAG_OF = {
    "appProtocol": "--app-protocol",
    "appChannelAddress": "--app-channel-address",
    "appHealthCheckPath": "--app-health-check-path",
    "appHealthProbeInterval": "--app-health-probe-interval",
    "appHealthProbeTimeout": "--app-health-probe-timeout",
    "appHealthThreshold": "--app-health-threshold",
    "enableAppHealthCheck": "--enable-app-health-check",
    "logLevel": "--log-level",
    "enableApiLogging": "--enable-api-logging",
    "enableMetrics": "--enable-metrics",
    "apiListenAddresses": "--dapr-listen-addresses",
    "daprHTTPMaxRequestSize": "--dapr-http-max-request-size",
    "daprGracefulShutdownSeconds": "--dapr-graceful-shutdown-seconds",
}


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_run_file(path: Path) -> RunFile:
    """Read and validate ``path``; raises RunFileError naming the file and field."""
    name = str(path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{name}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RunFileError(f"{name}: expected a mapping with 'version' and 'apps'")
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{name}: {_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise RunFileError("\n".join(lines)) from None
    base = path.resolve().parent
    seen: set[str] = set()
    apps = []
    for i, app in enumerate(parsed.apps):
        if app.appID in seen:
            raise RunFileError(f"{name}: apps[{i}].appID: {app.appID!r} is used twice")
        seen.add(app.appID)
        apps.append(_resolve(name, i, base, parsed.common, app))
    return RunFile(path=path, apps=tuple(apps))


def _resolve(name: str, i: int, base: Path, common: _Options, app: _App) -> AppSpec:
    app_dir = (base / app.appDirPath).resolve()
    if not app_dir.is_dir():
        raise RunFileError(f"{name}: apps[{i}].appDirPath: {app_dir} is not a folder")
    if not app.command:
        raise RunFileError(f"{name}: apps[{i}].command: the app's command is required")

    def pick(key: str) -> Any:
        own = getattr(app, key)
        return own if own is not None else getattr(common, key)

    paths = [
        *(pick("resourcesPaths") or []),
        *([pick("resourcesPath")] if pick("resourcesPath") else []),
    ]
    resources = []
    for p in paths:
        full = (base / p).resolve()
        if not full.is_dir():
            raise RunFileError(f"{name}: apps[{i}].resourcesPath: {full} is not a folder")
        resources.append(full)
    if not resources and (app_dir / ".dapr" / "resources").is_dir():  # Dapr's per-app folder
        resources.append(app_dir / ".dapr" / "resources")
    config = pick("configFilePath")
    config_path = (base / config).resolve() if config else None
    if config_path is not None and not config_path.is_file():
        raise RunFileError(f"{name}: apps[{i}].configFilePath: {config_path} is not a file")
    flags = tuple(
        f"{flag}={_text(value)}"
        for key, flag in _FLAG_OF.items()
        if (value := pick(key)) is not None
    )
    env = {k: _text(v) for k, v in {**common.env, **app.env}.items()}
    return AppSpec(
        app_id=app.appID,
        app_dir=app_dir,
        command=tuple(app.command),
        env=env,
        resources_paths=tuple(resources),
        config=config_path,
        app_port=app.appPort,
        http_port=app.daprHTTPPort,
        grpc_port=app.daprGRPCPort,
        internal_grpc_port=app.daprInternalGRPCPort,
        metrics_port=app.metricsPort,
        flags=flags,
    )
