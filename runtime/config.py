"""The sidecar's own settings: daprd's command-line flags, environment, defaults.

Parsing never exits the process: ``parse_args`` raises ``UsageError`` and ``__main__`` decides.
"""

from __future__ import annotations

import argparse
import math
import re
import stat
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec

from runtime._version import __version__
from runtime.daprd_flags import UNUSED_BOOL_FLAGS, UNUSED_VALUE_FLAGS, normalise, parse_bool
from runtime.keyprefix import KEY_SEPARATOR, separator_problem

__all__ = [
    "AppProtocol",
    "SidecarConfig",
    "UsageError",
    "build_parser",
    "config_from_args",
    "parse_args",
    "parse_size",
    "read_token_file",
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


class SidecarConfig(msgspec.Struct, frozen=True, kw_only=True):
    app_id: str
    app_port: int | None = None
    app_protocol: AppProtocol = AppProtocol.HTTP
    app_channel_address: str = "127.0.0.1"
    http_port: int = DEFAULT_HTTP_PORT
    grpc_port: int = DEFAULT_GRPC_PORT
    internal_grpc_port: int | None = None  # --dapr-internal-grpc-port: sidecar-to-sidecar calls
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
    app_max_concurrency: int = -1  # concurrent calls into the app; -1 or 0: unlimited
    enable_metrics: bool = True
    enable_mtls: bool | None = None  # --enable-mtls; None: the Configuration decides (default on)
    ca_files: tuple[Path | None, Path | None, Path | None] = (None, None, None)
    """--trust-anchors-file, --issuer-cert, --issuer-key"""
    metrics_port: int = DEFAULT_METRICS_PORT
    flagd_port: int | None = None  # an extra gRPC listener (flagd providers' default: 8013)
    api_token: str | None = None
    app_api_token: str | None = None
    namespace: str = ""  # $NAMESPACE; empty in standalone mode, as in Dapr
    home: Path = msgspec.field(default_factory=lambda: tandem_home({}))
    app_command: tuple[str, ...] = ()
    unused_flags: tuple[str, ...] = ()  # daprd flags given that Tandem accepts but ignores


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


class _RefuseApiToken(argparse.Action):
    """``--api-token`` would put the token in ``ps`` and /proc/PID/cmdline for every local user;
    daprd has no such flag either. The message never repeats the value."""

    def __call__(self, *_args: object, **_kwargs: object) -> None:
        raise UsageError(
            "--api-token is not supported: a token on the command line is visible to every"
            " local user (ps, /proc). Set DAPR_API_TOKEN, or use --api-token-file FILE"
            " (readable by its owner only)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tandem",
        allow_abbrev=False,
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
        allow_abbrev=False,
        help="start the sidecar (and the app given after --)",
        description=(
            "Start the sidecar. Anything after -- is the app command: it is started as a child"
            " with APP_ID, APP_PORT, DAPR_HTTP_PORT and DAPR_GRPC_PORT set, and the sidecar lives"
            " and dies with it. Flags use daprd's names and syntax (-flag, --flag=value; a"
            " boolean flag alone means true), so existing scripts keep working. The API token"
            " comes from $DAPR_API_TOKEN or --api-token-file."
        ),
        epilog=(
            "example: tandem run --app-id orders --app-port 8080 -- python app.py. Several apps"
            " from a run file (the Dapr CLI's format): tandem run -f tandem.yaml"
        ),
    )
    _add_run_flags(run)
    listing = sub.add_parser(
        "list", allow_abbrev=False, help="show the sidecars running on this machine, with ports"
    )
    listing.add_argument("-o", "--output", choices=("table", "json"), default="table")
    validate = sub.add_parser(
        "validate",
        allow_abbrev=False,
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
    from runtime.security.cli import add_ca_parser

    add_ca_parser(sub)
    return parser


BOOL_FLAGS = frozenset(
    {
        "--enable-app-health-check",
        "--app-ssl",
        "--log-as-json",
        "--enable-api-logging",
        "--enable-metrics",
        "--enable-mtls",
        *UNUSED_BOOL_FLAGS,
    }
)


def _bool_arg(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port_arg(text: str) -> int | None:
    """daprd's ports are strings where empty means none."""
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def _flag(group: argparse._ArgumentGroup, name: str, **kwargs: Any) -> None:
    """One flag; a boolean one takes daprd's forms (see daprd_flags.normalise)."""
    if name in BOOL_FLAGS:
        kwargs = {"type": _bool_arg, "nargs": "?", "const": True, "metavar": "BOOL", **kwargs}
    group.add_argument(name, **kwargs)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    app = p.add_argument_group("app")
    _flag(app, "--app-id", default=None, help="the app's id (default: the app command name)")
    _flag(
        app,
        "--app-port",
        type=_port_arg,
        default=None,
        help="port the app listens on; omit when the app serves nothing",
    )
    _flag(app, "--app-protocol", choices=[e.value for e in AppProtocol], default="http")
    _flag(app, "--app-channel-address", default="127.0.0.1", help="host of the app")
    _flag(app, "--app-ssl", default=False, help="deprecated: --app-protocol https or grpcs")
    _flag(
        app,
        "--enable-app-health-check",
        default=False,
        help="probe the app's health endpoint; /v1.0/healthz follows it",
    )
    _flag(app, "--app-health-check-path", default="/healthz")
    _flag(app, "--app-health-probe-interval", type=float, default=5.0, metavar="SECONDS")
    _flag(app, "--app-health-probe-timeout", type=float, default=500.0, metavar="MS")
    _flag(
        app,
        "--app-health-threshold",
        type=int,
        default=3,
        metavar="N",
        help="consecutive failed probes before the app counts as unhealthy",
    )
    _flag(
        app,
        "--app-max-concurrency",
        type=int,
        default=-1,
        metavar="N",
        help="limit of concurrent calls into the app (default -1: unlimited)",
    )
    api = p.add_argument_group("API servers")
    _flag(api, "--dapr-http-port", type=int, default=DEFAULT_HTTP_PORT)
    _flag(api, "--dapr-grpc-port", type=int, default=DEFAULT_GRPC_PORT)
    _flag(
        api,
        "--dapr-internal-grpc-port",
        default=None,
        metavar="PORT",
        help="port for calls from other sidecars (default: a free port, registered for them)",
    )
    _flag(
        api,
        "--dapr-listen-addresses",
        default="127.0.0.1",
        help="comma-separated addresses the APIs listen on (default loopback only)",
    )
    _flag(api, "--max-body-size", default=None, help="request size limit (default 4Mi)")
    _flag(api, "--dapr-http-max-request-size", type=int, default=None, help="deprecated (MB)")
    _flag(
        api,
        "--read-buffer-size",
        default=None,
        help="longest HTTP request line or header line (default 8Ki)",
    )
    _flag(api, "--dapr-http-read-buffer-size", type=int, default=None, help="deprecated (KB)")
    _flag(
        api,
        "--max-inflight-body-size",
        default=None,
        help="bytes of HTTP request bodies received or held at once; over it, 503"
        " (default 32Mi, at least --max-body-size)",
    )
    _flag(
        api,
        "--http-header-read-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a connection must send a request's headers within this (default 10; 0 = none)",
    )
    _flag(
        api,
        "--http-body-read-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a request body must arrive within this, else 400 (default 30; 0 = none)",
    )
    _flag(
        api,
        "--http-idle-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close keep-alive connections idle this long (default 60)",
    )
    _flag(
        api,
        "--api-token-file",
        default=None,
        metavar="FILE",
        help="require the token in this file (owner-only permissions) in dapr-api-token;"
        " default $DAPR_API_TOKEN",
    )
    api.add_argument("--api-token", action=_RefuseApiToken, help=argparse.SUPPRESS)
    _flag(api, "--dapr-graceful-shutdown-seconds", type=float, default=5.0)
    _flag(
        api,
        "--mode",
        default="standalone",
        help="standalone (the only mode Tandem has)",
    )
    res = p.add_argument_group("resources")
    _flag(
        res,
        "--resources-path",
        action="append",
        default=[],
        dest="resources_path",
        metavar="DIR",
        help="folder of component YAML (repeatable); default $TANDEM_HOME/components"
        " when it exists, else the embedded defaults",
    )
    res.add_argument(
        "--components-path", action="append", dest="resources_path", help=argparse.SUPPRESS
    )
    _flag(
        res,
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="Configuration YAML file (tracing, metrics, ...)",
    )
    obs = p.add_argument_group("observability")
    _flag(
        obs,
        "--log-level",
        default="info",
        choices=["debug", "info", "warn", "warning", "error", "fatal"],
    )
    _flag(obs, "--log-as-json", default=False)
    _flag(obs, "--enable-api-logging", default=False, help="one log line per API call")
    _flag(obs, "--enable-metrics", default=True)
    _flag(obs, "--metrics-port", type=int, default=DEFAULT_METRICS_PORT)
    sec = p.add_argument_group("security (mTLS between sidecars; see SECURITY.md)")
    _flag(
        sec,
        "--enable-mtls",
        default=None,
        help="mTLS on the sidecar-to-sidecar channel (default true; false: cleartext, warned)",
    )
    from runtime.security.cli import add_ca_source_flags

    add_ca_source_flags(sec)
    _flag(
        p.add_argument_group("feature flags"),
        "--flagd-port",
        type=int,
        default=None,
        help="also serve the gRPC API (flagd's services included) on this port, e.g. 8013,"
        " the OpenFeature flagd providers' default",
    )
    p.add_argument("--version", action="version", version=f"tandem {__version__}")
    p.add_argument("--build-info", action="version", version=f"tandem {__version__}")
    compat = p.add_argument_group(
        "daprd flags accepted for compatibility (not used by Tandem yet; a warning names them)"
    )
    for name in UNUSED_VALUE_FLAGS:
        _flag(compat, name, default=None, metavar="VALUE")
    for name in UNUSED_BOOL_FLAGS:
        _flag(compat, name, default=None)
    p.add_argument("app_command", nargs=argparse.REMAINDER, help="-- followed by the app command")


def parse_args(argv: Sequence[str], env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parse the command line; raises UsageError (never exits, except --help/--version)."""
    return build_parser().parse_args(normalise(argv, BOOL_FLAGS))


def read_token_file(path: Path) -> str:
    """The API token in ``path``; refused (UsageError) when others may read it, as ssh refuses
    a private key with open permissions, or when it is empty."""
    try:
        st = path.stat()
        if st.st_mode & 0o077:
            raise UsageError(
                f"--api-token-file: {path} is readable by other users"
                f" (mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--api-token-file: cannot read {path}: {exc}") from None
    if not token:
        raise UsageError(f"--api-token-file: {path} is empty")
    return token


def _positive(flag: str, value: float, *, allow_zero: bool = False) -> float:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{flag}: {value} must be a positive number")
    return value


def _max_body(ns: argparse.Namespace) -> int:
    if ns.max_body_size is None and ns.dapr_http_max_request_size is not None:
        if ns.dapr_http_max_request_size <= 0:
            raise UsageError("--dapr-http-max-request-size: must be a positive number of MB")
        return int(ns.dapr_http_max_request_size) << 20
    try:
        return parse_size(ns.max_body_size or "4Mi")
    except ValueError as exc:
        raise UsageError(f"--max-body-size: {exc}") from None


def _read_buffer(ns: argparse.Namespace) -> int:
    if ns.read_buffer_size is None and ns.dapr_http_read_buffer_size is not None:
        if ns.dapr_http_read_buffer_size <= 0:
            raise UsageError("--dapr-http-read-buffer-size: must be a positive number of KB")
        return int(ns.dapr_http_read_buffer_size) << 10
    return _size_flag("--read-buffer-size", ns.read_buffer_size, default=DEFAULT_READ_BUFFER)


def _size_flag(flag: str, value: str | None, *, default: int, at_least: int = 1) -> int:
    if value is None:
        return default
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if size < at_least:
        raise UsageError(f"{flag}: {value} must be at least {at_least} bytes")
    return size


def _app_protocol(ns: argparse.Namespace) -> AppProtocol:
    protocol = AppProtocol(ns.app_protocol)
    if ns.app_ssl:  # daprd: the deprecated --app-ssl upgrades http/grpc to their TLS forms
        protocol = {AppProtocol.HTTP: AppProtocol.HTTPS, AppProtocol.GRPC: AppProtocol.GRPCS}.get(
            protocol, protocol
        )
    return protocol


def _unused_flags(ns: argparse.Namespace) -> tuple[str, ...]:
    return tuple(
        name
        for name in (*UNUSED_VALUE_FLAGS, *UNUSED_BOOL_FLAGS)
        if getattr(ns, name[2:].replace("-", "_")) is not None
    )


def _internal_grpc_port(ns: argparse.Namespace) -> int | None:
    text = ns.dapr_internal_grpc_port
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit() or not 0 <= int(text) <= 65535:
        raise UsageError(f"--dapr-internal-grpc-port: {text!r} is not a TCP port")
    return int(text)


def config_from_args(ns: argparse.Namespace, env: Mapping[str, str]) -> SidecarConfig:
    """Build the typed config from ``tandem run`` arguments; raises UsageError."""
    command = list(ns.app_command or [])
    if command and command[0] == "--":
        command = command[1:]
    app_id = ns.app_id or (Path(command[0]).name if command else "")
    if not app_id:
        raise UsageError("--app-id is required when no app command is given")
    if separator_problem(app_id):
        raise UsageError(f"--app-id must not contain '{KEY_SEPARATOR}'")
    if ns.mode != "standalone":
        raise UsageError(
            f"--mode {ns.mode}: Tandem runs in standalone mode only (Kubernetes mode needs"
            " daprd and its control plane)"
        )
    for flag, port in (
        ("--dapr-http-port", ns.dapr_http_port),
        ("--dapr-grpc-port", ns.dapr_grpc_port),
        ("--metrics-port", ns.metrics_port),
        ("--flagd-port", ns.flagd_port or 0),
    ):
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag}: {port} is not a TCP port")
    if ns.app_port is not None and not 0 < ns.app_port <= 65535:
        raise UsageError(f"--app-port: {ns.app_port} is not a TCP port")
    if ns.app_max_concurrency < -1:
        raise UsageError(f"--app-max-concurrency: {ns.app_max_concurrency} is not -1, 0 or more")
    if ns.app_health_threshold < 1:
        raise UsageError(f"--app-health-threshold: {ns.app_health_threshold} must be at least 1")
    token = (
        read_token_file(Path(ns.api_token_file))
        if ns.api_token_file
        else env.get("DAPR_API_TOKEN") or None
    )
    addresses = tuple(a.strip() for a in ns.dapr_listen_addresses.split(",") if a.strip())
    max_body = _max_body(ns)
    level = {"warn": "warning", "fatal": "critical"}.get(ns.log_level, ns.log_level)
    return SidecarConfig(
        app_id=app_id,
        app_port=ns.app_port,
        app_protocol=_app_protocol(ns),
        app_channel_address=ns.app_channel_address,
        http_port=ns.dapr_http_port,
        grpc_port=ns.dapr_grpc_port,
        internal_grpc_port=_internal_grpc_port(ns),
        listen_addresses=addresses or ("127.0.0.1",),
        resources_paths=tuple(Path(p) for p in ns.resources_path),
        config_paths=tuple(Path(p) for p in ns.config),
        log_level=level,
        log_as_json=ns.log_as_json,
        enable_api_logging=ns.enable_api_logging,
        max_body_size=max_body,
        max_inflight_body_size=_size_flag(
            "--max-inflight-body-size",
            ns.max_inflight_body_size,
            default=max(DEFAULT_MAX_INFLIGHT_BODY, max_body),
            at_least=max_body,
        ),
        read_buffer_size=_read_buffer(ns),
        http_header_read_timeout=_positive(
            "--http-header-read-timeout", ns.http_header_read_timeout, allow_zero=True
        ),
        http_body_read_timeout=_positive(
            "--http-body-read-timeout", ns.http_body_read_timeout, allow_zero=True
        ),
        http_idle_timeout=_positive("--http-idle-timeout", ns.http_idle_timeout),
        graceful_shutdown_seconds=_positive(
            "--dapr-graceful-shutdown-seconds", ns.dapr_graceful_shutdown_seconds, allow_zero=True
        ),
        enable_app_health_check=ns.enable_app_health_check,
        app_health_check_path=ns.app_health_check_path,
        app_health_probe_interval=_positive(
            "--app-health-probe-interval", ns.app_health_probe_interval
        ),
        app_health_probe_timeout=_positive(
            "--app-health-probe-timeout", ns.app_health_probe_timeout
        )
        / 1000.0,
        app_health_threshold=ns.app_health_threshold,
        app_max_concurrency=ns.app_max_concurrency,
        enable_metrics=ns.enable_metrics,
        enable_mtls=ns.enable_mtls,
        ca_files=(
            Path(ns.trust_anchors_file) if ns.trust_anchors_file else None,
            Path(ns.issuer_cert) if ns.issuer_cert else None,
            Path(ns.issuer_key) if ns.issuer_key else None,
        ),
        metrics_port=ns.metrics_port,
        flagd_port=ns.flagd_port,
        api_token=token,
        app_api_token=env.get("APP_API_TOKEN") or None,
        namespace=env.get("NAMESPACE", ""),
        home=tandem_home(env),
        app_command=tuple(command),
        unused_flags=_unused_flags(ns),
    )
