"""``tandem`` command line: the only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from runtime.config import UsageError, config_from_args, parse_args

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_STARTUP = 1


def _err(message: str) -> None:
    print(f"tandem: {message}", file=sys.stderr)


def _validate(paths: Sequence[str]) -> int:
    from pathlib import Path

    from runtime.registry import Registry
    from runtime.resiliency import load_resiliency
    from runtime.resources.build import plan_components
    from runtime.resources.issues import ConfigError
    from runtime.resources.loader import collect_resources
    from runtime.resources.subscription import load_subscriptions

    logging.basicConfig(level=logging.WARNING, format="tandem: warning: %(message)s")
    resources, issues = collect_resources([Path(p) for p in paths])
    load_resiliency(resources.others.get("Resiliency", []), app_id=None, issues=issues)
    load_subscriptions(resources.others.get("Subscription", []), app_id=None, issues=issues)
    try:
        plans = plan_components(
            resources.components, Registry(), app_id=None, env=os.environ, prior_issues=issues
        )
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_STARTUP
    kinds = {k: len(v) for k, v in resources.others.items()}
    skipped = len(resources.components) - len(plans)
    print(
        f"ok: {len(plans)} component(s)"
        + "".join(f", {n} {k}" for k, n in sorted(kinds.items()))
        + (f"; {skipped} component(s) skipped (ignoreErrors)" if skipped else "")
        + (
            f"; {len(resources.skipped)} document(s) of unsupported kinds"
            if resources.skipped
            else ""
        )
    )
    return 0


def _tool(ns: argparse.Namespace) -> int:
    """The commands other than ``run``."""
    if ns.command == "list":
        return _list(ns.output)
    if ns.command == "ca":
        from runtime.config import tandem_home
        from runtime.security.cli import run_ca

        return run_ca(ns, os.environ, tandem_home(os.environ))
    return _validate(ns.resource_path if hasattr(ns, "resource_path") else ns.resources_path)


def run_file_arg(args: Sequence[str]) -> str | None:
    """The run file of ``tandem run -f FILE`` (also ``--run-file``), or None for one sidecar;
    UsageError when other flags come with it (they belong in the file)."""
    head = list(args[: args.index("--")] if "--" in args else args)
    for i, arg in enumerate(head):
        name, eq, value = arg.partition("=")
        if name in ("-f", "--f", "-run-file", "--run-file"):
            if not eq:
                if i + 1 >= len(head):
                    raise UsageError(f"{name} needs a run file: tandem run -f tandem.yaml")
                value = head[i + 1]
            rest = head[:i] + head[i + (1 if eq else 2) :]
            if rest or "--" in args:
                raise UsageError(
                    "tandem run -f takes no other flags or app command"
                    f" (got {' '.join(rest or ['--'])}): put them in the run file"
                )
            return value
    return None


def _list(output: str) -> int:
    from runtime.cli.listing import format_table, running_sidecars
    from runtime.config import tandem_home

    print(format_table(running_sidecars(tandem_home(os.environ)), as_json=output == "json"))
    return 0


def _maybe_run_many(args: Sequence[str]) -> int | None:
    """``tandem run -f FILE``'s exit code, or None when ``args`` start one sidecar."""
    try:
        run_file = run_file_arg(args)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    return None if run_file is None else _run_many(run_file)


def _run_many(path: str) -> int:
    from pathlib import Path

    from runtime.cli.multirun import run_all
    from runtime.cli.runfile import RunFileError, load_run_file

    try:
        run_file = load_run_file(Path(path))
    except RunFileError as exc:
        _err(str(exc))
        return EXIT_USAGE
    try:
        return asyncio.run(run_all(run_file))
    except OSError as exc:  # a sidecar could not be started at all
        _err(f"{path}: {exc}")
        return EXIT_STARTUP


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"] and (code := _maybe_run_many(args[1:])) is not None:
        return code
    return _main(args)


def _main(args: list[str]) -> int:
    try:
        ns = parse_args(args)
    except UsageError as exc:
        _err(f"{exc}\nRun 'tandem --help' for usage.")
        return EXIT_USAGE
    if ns.command in ("list", "validate", "ca"):
        return _tool(ns)
    if ns.command != "run":
        from runtime.config import build_parser

        build_parser().print_help()
        return 0 if ns.command is None and not args else EXIT_USAGE
    try:
        config = config_from_args(ns, os.environ)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE

    from runtime.app_process import AppStartError, set_sidecar_environment

    set_sidecar_environment(os.environ)  # before gRPC loads
    # The imports create ~100k objects that live as long as the process; the collections they
    # would trigger (~170, finding nothing to free among them) cost ~50 ms of CPU here. The
    # collector is paused for them (and by Sidecar.run until outbound ready), not turned off.
    gc.disable()
    try:
        from runtime.lifecycle import Sidecar
        from runtime.logging import setup_logging
        from runtime.observability.log_filter import TraceContextFilter
        from runtime.resources.build import ComponentInitError
        from runtime.resources.issues import ConfigError
    finally:
        gc.enable()

    setup_logging(
        level=config.log_level,
        as_json=config.log_as_json,
        app_id=config.app_id,
        extra_filters=[TraceContextFilter()],
    )
    _warn_unused_flags(config.unused_flags)
    runner: Callable[[Coroutine[Any, Any, int]], int]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover (uvloop is a dependency where it builds)
        runner = asyncio.run
    try:
        code = runner(Sidecar(config).run())
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_STARTUP
    except (ComponentInitError, AppStartError, OSError) as exc:
        _err(str(exc))
        return EXIT_STARTUP
    except KeyboardInterrupt:
        return 130
    code = 128 - code if code < 0 else code
    _exit_if_threads_linger(code)
    return code


def _warn_unused_flags(flags: Sequence[str]) -> None:
    from runtime.daprd_flags import UNUSED_BOOL_FLAGS, UNUSED_VALUE_FLAGS

    purposes = {**UNUSED_VALUE_FLAGS, **UNUSED_BOOL_FLAGS}
    for flag in flags:
        logging.getLogger("tandem.runtime").warning(
            "flag %s accepted for compatibility with daprd and ignored: Tandem does not"
            " support %s yet",
            flag,
            purposes[flag],
        )


def _exit_if_threads_linger(code: int) -> None:
    """After the drain, do not let a driver's worker thread (e.g. a SQLite write still waiting
    on a lock) hold the process past the grace period: exit now."""
    import threading

    lingering = [
        t.name
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    if lingering:
        logging.getLogger("tandem.runtime").warning(
            "exiting with %d worker thread(s) still busy: %s", len(lingering), ", ".join(lingering)
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
