"""The sidecar's own settings: daprd's command-line flags, environment, defaults.

Parsing never exits the process: ``parse_args`` raises ``UsageError`` and ``__main__`` decides.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from runtime._version import __version__

__all__ = [
    "AppProtocol",
    "SidecarConfig",
    "UsageError",
    "build_parser",
    "parse_args",
    "parse_size",
    "tandem_home",
]

DEFAULT_HTTP_PORT = 3500
DEFAULT_GRPC_PORT = 50001
DEFAULT_METRICS_PORT = 9090
DEFAULT_MAX_BODY = 4 << 20
DEFAULT_MAX_INFLIGHT_BODY = 32 << 20
DEFAULT_READ_BUFFER = 8 << 10


class UsageError(Exception):
    """Bad command line or environment; the message says which flag and why."""


class AppProtocol(StrEnum):
    HTTP = "http"
    HTTPS = "https"
    GRPC = "grpc"
    GRPCS = "grpcs"
    H2C = "h2c"


@dataclass(frozen=True, slots=True, kw_only=True)
class SidecarConfig:
    app_id: str
    app_port: int | None = None
    app_protocol: AppProtocol = AppProtocol.HTTP
    app_channel_address: str = "127.0.0.1"
    http_port: int = DEFAULT_HTTP_PORT
    grpc_port: int = DEFAULT_GRPC_PORT
    listen_addresses: tuple[str, ...] = ("127.0.0.1",)
    resources_paths: tuple[Path, ...] = ()
    config_paths: tuple[Path, ...] = ()
    log_level: str = "info"
    log_as_json: bool = False
    enable_api_logging: bool = False
    max_body_size: int = DEFAULT_MAX_BODY
    max_inflight_body_size: int = DEFAULT_MAX_INFLIGHT_BODY
    read_buffer_size: int = DEFAULT_READ_BUFFER
    http_header_read_timeout: float = 10.0
    http_body_read_timeout: float = 30.0
    http_idle_timeout: float = 60.0
    graceful_shutdown_seconds: float = 5.0
    enable_app_health_check: bool = False
    app_health_check_path: str = "/healthz"
    app_health_probe_interval: float = 5.0
    app_health_probe_timeout: float = 0.5
    app_health_threshold: int = 3
    enable_metrics: bool = True
    metrics_port: int = DEFAULT_METRICS_PORT
    api_token: str | None = None
    app_api_token: str | None = None
    namespace: str = ""  # $NAMESPACE; empty in standalone mode, as in Dapr
    home: Path = field(default_factory=lambda: tandem_home({}))
    app_command: tuple[str, ...] = ()


def tandem_home(env: Mapping[str, str]) -> Path:
    """``$TANDEM_HOME``, default ``~/.tandem``: embedded data and default components."""
    value = env.get("TANDEM_HOME")
    return Path(value).expanduser() if value else Path.home() / ".tandem"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")
_FACTORS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "ki": 1024,
    "m": 1000**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gi": 1024**3,
}


def parse_size(text: str) -> int:
    """Bytes from Kubernetes-style quantities: ``4Mi``, ``512Ki``, ``10M``, ``4194304``."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"invalid size {text!r}: expected e.g. 4Mi, 512Ki or a number of bytes")
    unit = (m.group(2) or "").lower().removesuffix("b")
    return int(float(m.group(1)) * _FACTORS[unit])


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tandem",
        description=(
            "Tandem: a Dapr-compatible sidecar. Serves the Dapr HTTP API (default :3500) and gRPC"
            " API (default :50001) beside your app, with state stores and more declared as"
            " components in YAML."
        ),
        epilog="Run 'tandem run --help' for the sidecar's flags.",
    )
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="start the sidecar (and the app given after --)",
        description=(
            "Start the sidecar. Anything after -- is the app command: it is started as a child"
            " with APP_ID, APP_PORT, DAPR_HTTP_PORT and DAPR_GRPC_PORT set, and the sidecar lives"
            " and dies with it. Flags use daprd's names, so existing scripts keep working."
        ),
        epilog="example: tandem run --app-id orders --app-port 8080 -- python app.py",
    )
    _add_run_flags(run)
    validate = sub.add_parser(
        "validate",
        help="check resource files (components, ...) and report every error, then exit",
    )
    validate.add_argument(
        "--resources-path",
        "--components-path",
        action="append",
        default=[],
        dest="resources_path",
        metavar="DIR",
    )
    return parser


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    app = p.add_argument_group("app")
    app.add_argument("--app-id", default=None, help="the app's id (default: the app command name)")
    app.add_argument(
        "--app-port",
        type=int,
        default=None,
        help="port the app listens on; omit when the app serves nothing",
    )
    app.add_argument("--app-protocol", choices=[e.value for e in AppProtocol], default="http")
    app.add_argument("--app-channel-address", default="127.0.0.1", help="host of the app")
    app.add_argument(
        "--enable-app-health-check",
        action="store_true",
        help="probe the app's health endpoint; /v1.0/healthz follows it",
    )
    app.add_argument("--app-health-check-path", default="/healthz")
    app.add_argument("--app-health-probe-interval", type=float, default=5.0, metavar="SECONDS")
    app.add_argument("--app-health-probe-timeout", type=float, default=500.0, metavar="MS")
    app.add_argument(
        "--app-health-threshold",
        type=int,
        default=3,
        metavar="N",
        help="consecutive failed probes before the app counts as unhealthy",
    )
    api = p.add_argument_group("API servers")
    api.add_argument("--dapr-http-port", type=int, default=DEFAULT_HTTP_PORT)
    api.add_argument("--dapr-grpc-port", type=int, default=DEFAULT_GRPC_PORT)
    api.add_argument(
        "--dapr-listen-addresses",
        default="127.0.0.1",
        help="comma-separated addresses the APIs listen on (default loopback only)",
    )
    api.add_argument("--max-body-size", default=None, help="request size limit (default 4Mi)")
    api.add_argument(
        "--dapr-http-max-request-size",
        type=int,
        default=None,
        metavar="MB",
        help="deprecated form of --max-body-size, in MiB",
    )
    api.add_argument(
        "--read-buffer-size",
        default=None,
        help="longest HTTP request line or header line (default 8Ki)",
    )
    api.add_argument(
        "--dapr-http-read-buffer-size",
        type=int,
        default=None,
        metavar="KB",
        help="deprecated form of --read-buffer-size, in KiB",
    )
    api.add_argument(
        "--max-inflight-body-size",
        default=None,
        help="bytes of HTTP request bodies received or held at once; over it, 503"
        " (default 32Mi, at least --max-body-size)",
    )
    api.add_argument(
        "--http-header-read-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a connection must send a request's headers within this (default 10; 0 = none)",
    )
    api.add_argument(
        "--http-body-read-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a request body must arrive within this, else 408 (default 30; 0 = none)",
    )
    api.add_argument(
        "--http-idle-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close keep-alive connections idle this long (default 60)",
    )
    api.add_argument(
        "--api-token",
        default=None,
        help="require this token in dapr-api-token (default: $DAPR_API_TOKEN)",
    )
    api.add_argument("--dapr-graceful-shutdown-seconds", type=float, default=5.0)
    res = p.add_argument_group("resources")
    res.add_argument(
        "--resources-path",
        "--components-path",
        action="append",
        default=[],
        dest="resources_path",
        metavar="DIR",
        help="folder of component YAML (repeatable); default $TANDEM_HOME/components"
        " when it exists, else the embedded defaults",
    )
    res.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="Configuration YAML file (tracing, metrics, ...)",
    )
    obs = p.add_argument_group("observability")
    obs.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warn", "warning", "error", "fatal"],
    )
    obs.add_argument("--log-as-json", action="store_true")
    obs.add_argument("--enable-api-logging", action="store_true", help="one log line per API call")
    obs.add_argument("--enable-metrics", default="true", choices=["true", "false"])
    obs.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT)
    p.add_argument("app_command", nargs=argparse.REMAINDER, help="-- followed by the app command")


def _normalise(argv: Sequence[str]) -> list[str]:
    """daprd accepts ``-app-id`` and ``-config``; rewrite single-dash long flags (before ``--``)
    to ``--``."""
    out: list[str] = []
    passthrough = False
    for arg in argv:
        if passthrough or arg == "--":
            passthrough = True
            out.append(arg)
        elif re.match(r"^-[a-z][a-z0-9]+(-[a-z0-9]+)*(=.*)?$", arg):
            out.append("-" + arg)
        else:
            out.append(arg)
    return out


def parse_args(argv: Sequence[str], env: Mapping[str, str] | None = None) -> argparse.Namespace:
    env = os.environ if env is None else env
    return build_parser().parse_args(_normalise(argv))


def config_from_args(ns: argparse.Namespace, env: Mapping[str, str]) -> SidecarConfig:
    """Build the typed config from ``tandem run`` arguments; raises UsageError."""
    command = list(ns.app_command or [])
    if command and command[0] == "--":
        command = command[1:]
    app_id = ns.app_id or (Path(command[0]).name if command else "")
    if not app_id:
        raise UsageError("--app-id is required when no app command is given")
    if "||" in app_id:
        raise UsageError("--app-id must not contain '||'")
    max_body = _size_flag(
        "--max-body-size", ns.max_body_size, ns.dapr_http_max_request_size, "Mi", "4Mi"
    )
    read_buffer = _size_flag(
        "--read-buffer-size", ns.read_buffer_size, ns.dapr_http_read_buffer_size, "Ki", "8Ki"
    )
    inflight = _size_flag(
        "--max-inflight-body-size",
        ns.max_inflight_body_size,
        None,
        "",
        str(max(DEFAULT_MAX_INFLIGHT_BODY, max_body)),
    )
    for flag, seconds in (
        ("--http-header-read-timeout", ns.http_header_read_timeout),
        ("--http-body-read-timeout", ns.http_body_read_timeout),
        ("--http-idle-timeout", ns.http_idle_timeout),
    ):
        if not seconds >= 0:
            raise UsageError(f"{flag}: {seconds} is not a number of seconds >= 0")
    if ns.http_idle_timeout == 0:
        raise UsageError("--http-idle-timeout: must be more than 0")
    if inflight < max_body:
        raise UsageError(
            f"--max-inflight-body-size ({inflight}) must be at least --max-body-size ({max_body})"
        )
    for flag, port in (
        ("--dapr-http-port", ns.dapr_http_port),
        ("--dapr-grpc-port", ns.dapr_grpc_port),
        ("--metrics-port", ns.metrics_port),
    ):
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag}: {port} is not a TCP port")
    if ns.app_port is not None and not 0 < ns.app_port <= 65535:
        raise UsageError(f"--app-port: {ns.app_port} is not a TCP port")
    addresses = tuple(a.strip() for a in ns.dapr_listen_addresses.split(",") if a.strip())
    level = {"warn": "warning", "fatal": "critical"}.get(ns.log_level, ns.log_level)
    return SidecarConfig(
        app_id=app_id,
        app_port=ns.app_port,
        app_protocol=AppProtocol(ns.app_protocol),
        app_channel_address=ns.app_channel_address,
        http_port=ns.dapr_http_port,
        grpc_port=ns.dapr_grpc_port,
        listen_addresses=addresses or ("127.0.0.1",),
        resources_paths=tuple(Path(p) for p in ns.resources_path),
        config_paths=tuple(Path(p) for p in ns.config),
        log_level=level,
        log_as_json=ns.log_as_json,
        enable_api_logging=ns.enable_api_logging,
        max_body_size=max_body,
        max_inflight_body_size=inflight,
        read_buffer_size=read_buffer,
        http_header_read_timeout=ns.http_header_read_timeout,
        http_body_read_timeout=ns.http_body_read_timeout,
        http_idle_timeout=ns.http_idle_timeout,
        graceful_shutdown_seconds=ns.dapr_graceful_shutdown_seconds,
        enable_app_health_check=ns.enable_app_health_check,
        app_health_check_path=ns.app_health_check_path,
        app_health_probe_interval=ns.app_health_probe_interval,
        app_health_probe_timeout=ns.app_health_probe_timeout / 1000.0,
        app_health_threshold=ns.app_health_threshold,
        enable_metrics=ns.enable_metrics == "true",
        metrics_port=ns.metrics_port,
        api_token=ns.api_token or env.get("DAPR_API_TOKEN") or None,
        app_api_token=env.get("APP_API_TOKEN") or None,
        namespace=env.get("NAMESPACE", ""),
        home=tandem_home(env),
        app_command=tuple(command),
    )


def _size_flag(
    flag: str, value: str | None, deprecated: int | None, unit: str, default: str
) -> int:
    """A size flag's bytes; its deprecated integer form (in ``unit``) applies when it is
    absent."""
    text = value if value is not None else f"{deprecated}{unit}" if deprecated else default
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if size <= 0:
        raise UsageError(f"{flag}: must be more than 0")
    return size
