"""``tandem run`` flags, environment and defaults (runtime/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import (
    DEFAULT_GRPC_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_BODY,
    AppProtocol,
    SidecarConfig,
    UsageError,
    config_from_args,
    parse_args,
    parse_size,
    tandem_home,
)


def config(*argv: str, env: dict[str, str] | None = None) -> SidecarConfig:
    environ = env or {}
    return config_from_args(parse_args(["run", *argv], environ), environ)


def test_defaults_match_daprd() -> None:
    cfg = config("--app-id", "orders")
    assert cfg.app_id == "orders"
    assert cfg.http_port == DEFAULT_HTTP_PORT == 3500
    assert cfg.grpc_port == DEFAULT_GRPC_PORT == 50001
    assert cfg.max_body_size == DEFAULT_MAX_BODY == 4 * 1024 * 1024
    assert cfg.listen_addresses == ("127.0.0.1",)
    assert cfg.app_port is None
    assert cfg.app_protocol is AppProtocol.HTTP
    assert cfg.resources_paths == ()
    assert cfg.app_command == ()
    assert cfg.api_token is None
    assert cfg.graceful_shutdown_seconds == 5.0
    assert cfg.app_health_probe_timeout == 0.5  # flag is in ms, config in seconds


def test_double_dash_flags() -> None:
    cfg = config(
        "--app-id",
        "orders",
        "--app-port",
        "8080",
        "--app-protocol",
        "grpc",
        "--dapr-http-port",
        "3600",
        "--dapr-grpc-port",
        "50101",
        "--log-level",
        "warn",
        "--log-as-json",
        "--enable-app-health-check",
        "--app-health-probe-timeout",
        "250",
        "--dapr-listen-addresses",
        "127.0.0.1, ::1",
        "--dapr-graceful-shutdown-seconds",
        "2",
    )
    assert cfg.app_port == 8080
    assert cfg.app_protocol is AppProtocol.GRPC
    assert (cfg.http_port, cfg.grpc_port) == (3600, 50101)
    assert cfg.log_level == "warning"
    assert cfg.log_as_json
    assert cfg.enable_app_health_check
    assert cfg.app_health_probe_timeout == 0.25
    assert cfg.listen_addresses == ("127.0.0.1", "::1")
    assert cfg.graceful_shutdown_seconds == 2.0


@pytest.mark.parametrize(
    ("argv", "attr", "expected"),
    [
        (["-app-id", "orders"], "app_id", "orders"),
        (["-app-id=orders"], "app_id", "orders"),
        (["-app-id", "o", "-app-port", "8080"], "app_port", 8080),
        (["-app-id", "o", "-dapr-http-port=4000"], "http_port", 4000),
        (["-app-id", "o", "-dapr-grpc-port", "4001"], "grpc_port", 4001),
        (["-app-id", "o", "-log-level", "debug"], "log_level", "debug"),
        (["-app-id", "o", "-log-as-json"], "log_as_json", True),
        (["-app-id", "o", "-resources-path", "a"], "resources_paths", (Path("a"),)),
        (["-app-id", "o", "-config", "c.yaml"], "config_paths", (Path("c.yaml"),)),
        (["-app-id", "o", "-config=c.yaml"], "config_paths", (Path("c.yaml"),)),
    ],
)
def test_single_dash_daprd_style(argv: list[str], attr: str, expected: object) -> None:
    assert getattr(config(*argv), attr) == expected


def test_single_dash_rewrite_stops_at_app_command() -> None:
    cfg = config("-app-id", "o", "--", "python", "app.py", "-app-id", "-config", "x")
    assert cfg.app_id == "o"
    assert cfg.app_command == ("python", "app.py", "-app-id", "-config", "x")


def test_components_path_is_an_alias_of_resources_path() -> None:
    cfg = config("--app-id", "o", "--components-path", "legacy", "--resources-path", "new")
    assert cfg.resources_paths == (Path("legacy"), Path("new"))


def test_resources_path_is_repeatable_and_ordered() -> None:
    cfg = config(
        "--app-id", "o", "--resources-path", "a", "--resources-path", "b", "-resources-path", "c"
    )
    assert cfg.resources_paths == (Path("a"), Path("b"), Path("c"))


def test_config_is_repeatable() -> None:
    cfg = config("--app-id", "o", "--config", "a.yaml", "--config", "b.yaml")
    assert cfg.config_paths == (Path("a.yaml"), Path("b.yaml"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4Mi", 4 * 1024 * 1024),
        ("512Ki", 512 * 1024),
        ("1Gi", 1024**3),
        ("10M", 10_000_000),
        ("2k", 2000),
        ("4194304", 4194304),
        ("100b", 100),
        ("1.5Mi", 1572864),
        (" 8Ki ", 8192),
        ("4MiB", 4 * 1024 * 1024),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "4Xi", "-1", "4 Mi Mi", "Mi", "1e6"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("flag", "expected"), [("4Mi", 4 << 20), ("512Ki", 512 << 10), ("1000", 1000)]
)
def test_max_body_size_flag(flag: str, expected: int) -> None:
    assert config("--app-id", "o", "--max-body-size", flag).max_body_size == expected


def test_max_body_size_flag_bad_value_names_the_flag() -> None:
    with pytest.raises(UsageError, match="--max-body-size"):
        config("--app-id", "o", "--max-body-size", "lots")


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--dapr-http-port", "70000"], "--dapr-http-port"),
        (["--dapr-grpc-port", "-1"], "--dapr-grpc-port"),
        (["--metrics-port", "65536"], "--metrics-port"),
        (["--app-port", "0"], "--app-port"),
        (["--app-port", "99999"], "--app-port"),
    ],
)
def test_port_out_of_range_names_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        config("--app-id", "o", *argv)


@pytest.mark.parametrize("argv", [["--app-port", "http"], ["--dapr-http-port", "x"]])
def test_port_not_a_number_is_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(UsageError, match="invalid int value"):
        config("--app-id", "o", *argv)


def test_port_bounds_accepted() -> None:
    cfg = config("--app-id", "o", "--app-port", "65535", "--dapr-http-port", "1")
    assert (cfg.app_port, cfg.http_port) == (65535, 1)


def test_app_command_after_double_dash() -> None:
    cfg = config("--app-id", "o", "--app-port", "8080", "--", "python", "app.py", "--port", "8080")
    assert cfg.app_command == ("python", "app.py", "--port", "8080")
    assert cfg.app_port == 8080


def test_app_id_defaults_to_the_app_command_name() -> None:
    assert config("--", "/usr/bin/python3", "app.py").app_id == "python3"


def test_app_id_required_without_app_command() -> None:
    with pytest.raises(UsageError, match="--app-id"):
        config()


def test_app_id_rejects_separator() -> None:
    with pytest.raises(UsageError, match=r"\|\|"):
        config("--app-id", "a||b")


@pytest.mark.parametrize(
    "argv",
    [
        ["--app-protocol", "ftp"],
        ["--log-level", "loud"],
        ["--no-such-flag"],
        ["--enable-metrics=yes"],
        ["-log-as-json=maybe"],
        ["--mode", "kubernetes"],
        ["--dapr-internal-grpc-port", "x"],
        ["--app-health-probe-interval", "nan"],
        ["--app-health-probe-timeout", "-1"],
        ["--dapr-graceful-shutdown-seconds", "inf"],
        ["--app-health-threshold", "0"],
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        config("--app-id", "o", *argv)


def test_api_token_from_env() -> None:
    cfg = config("--app-id", "o", env={"DAPR_API_TOKEN": "s3cret", "APP_API_TOKEN": "app-tok"})
    assert cfg.api_token == "s3cret"
    assert cfg.app_api_token == "app-tok"


@pytest.mark.parametrize(
    "argv", [["--api-token", "s3cret"], ["--api-token=s3cret"], ["-api-token", "s3cret"]]
)
def test_api_token_flag_is_refused_without_echoing_the_token(argv: list[str]) -> None:
    """A token on the command line is readable by every local user in ps and /proc."""
    with pytest.raises(UsageError, match="DAPR_API_TOKEN") as info:
        config("--app-id", "o", *argv)
    assert "s3cret" not in str(info.value)


def test_api_token_file_is_not_an_abbreviation_target() -> None:
    """argparse would take --api-token as an abbreviation of --api-token-file."""
    with pytest.raises(UsageError, match="--api-token is not supported"):
        config("--app-id", "o", "--api-token", "/some/file")


def test_api_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("file-token\n")
    token.chmod(0o600)
    cfg = config("--app-id", "o", "--api-token-file", str(token), env={"DAPR_API_TOKEN": "env"})
    assert cfg.api_token == "file-token"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_api_token_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    token = tmp_path / "token"
    token.write_text("file-token")
    token.chmod(mode)
    with pytest.raises(UsageError, match="chmod 600") as info:
        config("--app-id", "o", "--api-token-file", str(token))
    assert "file-token" not in str(info.value)


def test_api_token_file_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--api-token-file"):
        config("--app-id", "o", "--api-token-file", str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(UsageError, match="empty"):
        config("--app-id", "o", "--api-token-file", str(empty))


def test_empty_tokens_mean_no_token() -> None:
    cfg = config("--app-id", "o", env={"DAPR_API_TOKEN": "", "APP_API_TOKEN": ""})
    assert cfg.api_token is None
    assert cfg.app_api_token is None


def test_namespace_from_env() -> None:
    assert config("--app-id", "o", env={"NAMESPACE": "prod"}).namespace == "prod"
    assert config("--app-id", "o").namespace == ""  # standalone: unset, as in Dapr


def test_tandem_home_from_env(tmp_path: Path) -> None:
    assert config("--app-id", "o", env={"TANDEM_HOME": str(tmp_path)}).home == tmp_path
    assert tandem_home({"TANDEM_HOME": "~/x"}) == Path.home() / "x"


def test_tandem_home_default() -> None:
    assert tandem_home({}) == Path.home() / ".tandem"
    assert tandem_home({"TANDEM_HOME": ""}) == Path.home() / ".tandem"
    assert config("--app-id", "o").home == Path.home() / ".tandem"


def test_metrics_flags() -> None:
    cfg = config("--app-id", "o", "--enable-metrics", "false", "--metrics-port", "9191")
    assert not cfg.enable_metrics
    assert cfg.metrics_port == 9191


def test_validate_subcommand_paths() -> None:
    ns = parse_args(["validate", "--resources-path", "a", "--components-path", "b"])
    assert ns.command == "validate"
    assert ns.resources_path == ["a", "b"]


def test_usage_error_does_not_exit() -> None:
    with pytest.raises(UsageError):
        parse_args(["run", "--app-port"])


# daprd's flag syntax (Go's flag package) ---------------------------------------------------

BOOLEAN_FLAGS = [
    ("--enable-app-health-check", "enable_app_health_check", False),
    ("--log-as-json", "log_as_json", False),
    ("--enable-api-logging", "enable_api_logging", False),
    ("--enable-metrics", "enable_metrics", True),
]


@pytest.mark.parametrize(("flag", "attr", "default"), BOOLEAN_FLAGS)
def test_boolean_flags_take_every_go_form(flag: str, attr: str, default: bool) -> None:
    assert getattr(config("--app-id", "o"), attr) is default
    for dashes in ("--", "-"):
        name = dashes + flag.lstrip("-")
        assert getattr(config("--app-id", "o", name), attr) is True
        for text, value in [
            ("true", True),
            ("false", False),
            ("1", True),
            ("0", False),
            ("T", True),
            ("F", False),
            ("TRUE", True),
            ("False", False),
        ]:
            assert getattr(config("--app-id", "o", f"{name}={text}"), attr) is value
        assert getattr(config("--app-id", "o", name, "--", "app"), attr) is True


def test_boolean_flag_alone_before_the_app_command() -> None:
    cfg = config("--app-id", "o", "--log-as-json", "--enable-metrics", "--", "python", "app.py")
    assert (cfg.log_as_json, cfg.enable_metrics) == (True, True)
    assert cfg.app_command == ("python", "app.py")


def test_boolean_flag_followed_by_true_or_false_keeps_the_old_form() -> None:
    assert config("--app-id", "o", "--enable-metrics", "false").enable_metrics is False
    assert config("--app-id", "o", "--log-as-json", "true", "--", "x").log_as_json is True


@pytest.mark.parametrize(
    ("argv", "attr", "expected"),
    [
        (["--app-port=8080"], "app_port", 8080),
        (["-app-port=8080"], "app_port", 8080),
        (["-app-port", "8080"], "app_port", 8080),
        (["--app-port", ""], "app_port", None),
        (["--dapr-http-port=3600"], "http_port", 3600),
        (["-dapr-grpc-port=50101"], "grpc_port", 50101),
        (["--app-protocol=grpc"], "app_protocol", AppProtocol.GRPC),
        (["--app-channel-address=10.0.0.1"], "app_channel_address", "10.0.0.1"),
        (["-dapr-listen-addresses=0.0.0.0"], "listen_addresses", ("0.0.0.0",)),
        (["--max-body-size=1Mi"], "max_body_size", 1 << 20),
        (["--dapr-http-max-request-size", "8"], "max_body_size", 8 << 20),
        (["--resources-path=./r"], "resources_paths", (Path("r"),)),
        (["--components-path=./r"], "resources_paths", (Path("r"),)),
        (["-config=c.yaml"], "config_paths", (Path("c.yaml"),)),
        (["--log-level=debug"], "log_level", "debug"),
        (["--metrics-port=9191"], "metrics_port", 9191),
        (["--app-health-check-path=/h"], "app_health_check_path", "/h"),
        (["--app-health-probe-interval=2"], "app_health_probe_interval", 2.0),
        (["--app-health-probe-timeout=250"], "app_health_probe_timeout", 0.25),
        (["--app-health-threshold=5"], "app_health_threshold", 5),
        (["--dapr-graceful-shutdown-seconds=1"], "graceful_shutdown_seconds", 1.0),
        (["--mode", "standalone"], "unused_flags", ()),
        (["--app-ssl"], "app_protocol", AppProtocol.HTTPS),
        (["--app-ssl", "--app-protocol", "grpc"], "app_protocol", AppProtocol.GRPCS),
        (["--dapr-internal-grpc-port", "50002"], "internal_grpc_port", 50002),
        (["--dapr-internal-grpc-port=50002"], "internal_grpc_port", 50002),
    ],
)
def test_value_flags_take_both_go_forms(argv: list[str], attr: str, expected: object) -> None:
    assert getattr(config("--app-id", "o", *argv), attr) == expected


UNUSED = [
    ["--placement-host-address", "localhost:50005"],
    ["--scheduler-host-address=localhost:50006"],
    ["-control-plane-address", "localhost:50007"],
    ["--sentry-address", "localhost:50001"],
    ["--dapr-public-port", "3501"],
    ["--enable-profiling"],
    ["--enable-mtls=false"],
    ["--profile-port", "7777"],
    ["--unix-domain-socket", "/tmp/x"],
    ["--allowed-origins", "*"],
    ["--disable-builtin-k8s-secret-store"],
    ["--dapr-block-shutdown-duration", "5s"],
    ["--wait"],
]


@pytest.mark.parametrize("argv", UNUSED)
def test_daprd_flags_tandem_does_not_use_are_accepted_and_named(argv: list[str]) -> None:
    cfg = config("--app-id", "o", *argv, "--", "app")
    flag = "--" + argv[0].lstrip("-").split("=")[0]
    assert cfg.unused_flags == (flag,)
    assert cfg.app_command == ("app",)


def test_every_unused_flag_at_once_like_an_sdk_test_runner() -> None:
    argv = [a for item in UNUSED for a in item]
    cfg = config(
        "--app-id",
        "o",
        *argv,
        "--dapr-internal-grpc-port",
        "50002",
        "--mode",
        "standalone",
        "--",
        "app",
    )
    assert len(cfg.unused_flags) == len(UNUSED)
    assert cfg.internal_grpc_port == 50002


def test_mode_other_than_standalone_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="standalone"):
        config("--app-id", "o", "--mode", "kubernetes")
