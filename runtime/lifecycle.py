"""The sidecar's start and stop sequence.

Start: load and validate resources (every error at once) → start components in order → start
the gRPC and HTTP APIs → outbound ready (``/v1.0/healthz/outbound`` 204) → start the app → wait
for the app port and health → ready (``/v1.0/healthz`` 204).
Stop (app exit, SIGTERM/SIGINT, or the shutdown API): signal the app, drain the APIs within the
grace period, close components in reverse order, flush spans. The exit code is the app's, or 1
for a forced shutdown (``dapr-force-shutdown: true``), which takes the same path except that the
APIs do not wait for requests in flight (they are cut); components are still closed and spans
flushed within the grace period. Nothing here ends the process (``main`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from components.base import ComponentContext
from components.nameresolution import Address, NameResolver, RegisteringResolver, Registration
from runtime._version import __version__
from runtime.api.http.limits import HttpLimits
from runtime.app_process import AppProcess, check_app_command
from runtime.appchannel import build_app_channel
from runtime.appchannel.base import AppChannel, AppSubscription
from runtime.appchannel.health import AppHealth
from runtime.cli.listing import SidecarEntry, announce
from runtime.compstore import ComponentStore
from runtime.config import SidecarConfig
from runtime.internal.client import InternalClient
from runtime.internal.grpcproxy import PATH_PREFIX as GRPC_TUNNEL_PREFIX
from runtime.internal.grpcproxy import TunnelClient, TunnelServer
from runtime.internal.server import InternalServer, PrefixRoute
from runtime.observability import Observer
from runtime.observability.component_telemetry import TelemetryObserver
from runtime.observability.grpc_telemetry import GrpcTelemetry
from runtime.observability.http_telemetry import HttpTelemetry
from runtime.registry import Registry
from runtime.resiliency import NOOP_EVENTS, Resiliency, load_resiliency
from runtime.resources.build import plan_components, start_components
from runtime.resources.configuration import SidecarConfiguration, load_configuration
from runtime.resources.defaults import default_components
from runtime.resources.issues import ConfigError, Issue
from runtime.resources.loader import Resources, collect_resources
from runtime.resources.manifest import ComponentManifest
from runtime.resources.subscription import load_subscriptions
from runtime.security.gate import Gate
from runtime.security.setup import start_security
from runtime.services import Services
from runtime.services.configuration import ConfigurationService
from runtime.services.grpcproxy import GrpcProxyService
from runtime.services.invoke import InvokeService
from runtime.services.metadata import AppConnection, MetadataService
from runtime.services.pubsub import PubSubService
from runtime.services.pubsub_outbox import Outbox
from runtime.services.pubsub_subscriptions import SubscriptionManager, info
from runtime.services.secrets import SecretsService
from runtime.services.state import StateService
from runtime.status import RuntimeStatus

if TYPE_CHECKING:
    from runtime.observability.metrics import Metrics
    from runtime.services.flags import FlagsService

__all__ = ["Sidecar", "load_all"]

log = logging.getLogger("tandem.runtime")


def load_all(config: SidecarConfig) -> tuple[Resources, str, list[Issue]]:
    """Resources to load, a description of where they came from, and the problems found."""
    if config.resources_paths:
        resources, issues = collect_resources(config.resources_paths)
        return resources, ", ".join(map(str, config.resources_paths)), issues
    home_components = config.home / "components"
    if home_components.is_dir():
        resources, issues = collect_resources([home_components])
        return resources, str(home_components), issues
    resources = Resources(components=default_components(config.home))
    return resources, "embedded defaults", []


class _GcPause:
    """The cyclic garbage collector paused from here until ``end``: start-up creates tens of
    thousands of objects that live as long as the sidecar, and the collections they would
    trigger find nothing to free among them. Resumes only what it paused (another sidecar in
    the process, or the host, may have paused it first)."""

    def __init__(self) -> None:
        self._resume = gc.isenabled()
        gc.disable()

    def end(self) -> None:
        if self._resume:
            self._resume = False
            gc.enable()


class Sidecar:
    def __init__(self, config: SidecarConfig, *, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self.status = RuntimeStatus()
        self.started_at = time.monotonic()
        self.configuration = SidecarConfiguration()
        self.app_channel: AppChannel | None = None  # set once the APIs serve
        self._declarative: list[AppSubscription] = []
        self._outbox: Outbox | None = None

    def _context(self, manifest: ComponentManifest) -> ComponentContext:
        return ComponentContext(
            name=manifest.name,
            app_id=self.config.app_id,
            namespace=self.config.namespace,
            home=self.config.home,
            logger=logging.getLogger(f"tandem.component.{manifest.name}"),
        )

    async def run(self) -> int:
        """Run until the app exits or a shutdown is requested; returns the exit code.

        Raises ConfigError, ComponentInitError, OSError (port in use) or AppStartError before
        serving when start-up fails.
        """
        gc_pause = _GcPause()  # until outbound ready
        try:
            return await self._run(gc_pause)
        finally:
            gc_pause.end()  # start-up failed (once ready, a no-op)

    async def _run(self, gc_pause: _GcPause) -> int:
        from runtime.observability.tracing import setup_tracing
        from runtime.observability.tracing_settings import TracingSettings

        cfg = self.config
        if cfg.app_command:
            check_app_command(cfg.app_command, self.env)
        self.configuration = load_configuration(cfg.config_paths)
        try:
            tracing_settings = TracingSettings.from_config(self.configuration.tracing, self.env)
        except ValueError as exc:
            raise ConfigError(
                [
                    Issue(
                        ", ".join(self.configuration.sources) or "environment",
                        str(exc),
                        path="spec.tracing",
                    )
                ]
            ) from exc
        resources, origin, issues = load_all(cfg)
        resiliency = load_resiliency(
            resources.others.get("Resiliency", []), app_id=cfg.app_id, issues=issues
        )
        self._declarative = load_subscriptions(
            resources.others.get("Subscription", []), app_id=cfg.app_id, issues=issues
        )
        plans = plan_components(
            resources.components, Registry(), app_id=cfg.app_id, env=self.env, prior_issues=issues
        )
        log.info("starting tandem sidecar for app %r; resources from %s", cfg.app_id, origin)
        async with AsyncExitStack() as stack:
            tracing = setup_tracing(
                tracing_settings, service_name=cfg.app_id, service_version=__version__
            )
            stack.push_async_callback(tracing.aclose, cfg.graceful_shutdown_seconds)
            metrics = await self._start_metrics(stack)
            gate = await start_security(stack, cfg, self.configuration.model, self.env, metrics)
            components = await start_components(
                plans, stack, self._context, close_timeout=cfg.graceful_shutdown_seconds
            )
            await self._bind_flag_sources(components)
            observer = TelemetryObserver(
                metrics, component_types={c.name: c.type for c in components}
            )
            resolver = await self._start_resolver(stack)
            client = InternalClient()
            stack.push_async_callback(client.aclose)  # after the APIs drain
            tunnels = TunnelClient(max_frame=cfg.max_body_size)
            stack.push_async_callback(tunnels.aclose)
            policies = Resiliency(resiliency, events=metrics or NOOP_EVENTS)
            services = self._services(
                components,
                observer,
                policies,
                invoke := InvokeService(
                    app_id=cfg.app_id,
                    namespace=cfg.namespace,
                    resolver=resolver,
                    client=client,
                    app_channel=lambda: self.app_channel,
                    resiliency=policies,
                    max_message_body=cfg.max_body_size,
                ),
                GrpcProxyService(
                    app_id=cfg.app_id,
                    namespace=cfg.namespace,
                    resolver=resolver,
                    client=tunnels,
                    app_channel=lambda: self.app_channel,
                    resiliency=policies,
                    balancer=invoke.balancer,
                ),
            )
            stack.push_async_callback(self._close_app_channel)  # after the APIs drain
            # after the APIs drain, before the app channel closes: no callback is cut short
            stack.push_async_callback(services.configuration.aclose)
            await self._start_apis(stack, services, metrics)
            self.app_channel = await build_app_channel(cfg, self.status)
            if services.subscriptions is not None:
                await self._start_delivery(stack, services, services.subscriptions)
            internal_port = await self._start_internal(stack, services, resolver, gate)
            stack.enter_context(
                announce(
                    cfg.home,
                    SidecarEntry(
                        cfg.app_id,
                        os.getpid(),
                        cfg.http_port,
                        cfg.grpc_port,
                        internal_port,
                        cfg.metrics_port if metrics is not None else None,
                        cfg.app_port,
                        0.0,
                    ),
                )
            )
            self.status.outbound_ready = True
            gc_pause.end()
            log.info(
                "tandem ready for outbound calls in %.3fs (HTTP %s:%d, gRPC %s:%d)",
                time.monotonic() - self.started_at,
                cfg.listen_addresses[0],
                cfg.http_port,
                cfg.listen_addresses[0],
                cfg.grpc_port,
            )
            return await self._serve(stack, services)

    async def _start_resolver(self, stack: AsyncExitStack) -> NameResolver:
        """The Configuration's ``nameResolution`` component (default ``nameresolution.sqlite``),
        initialised; raises ConfigError when its type or configuration is invalid."""
        spec = self.configuration.model.nameResolution
        kind = f"nameresolution.{spec.component}" if spec else "nameresolution.sqlite"
        where = ", ".join(self.configuration.sources) or "defaults"
        try:
            cls = Registry().resolve(kind, spec.version if spec else "v1")
            data = spec.configuration if spec and spec.configuration else {}
            metadata = cls.Metadata.model_validate(data)
        except (LookupError, ImportError, ValidationError) as exc:
            raise ConfigError([Issue(where, str(exc), path="spec.nameResolution")]) from exc
        resolver = cast("NameResolver", cls(metadata, context=self._context_for(kind)))
        await resolver.init()
        stack.push_async_callback(resolver.close)
        return resolver

    def _context_for(self, name: str) -> ComponentContext:
        return ComponentContext(
            name=name,
            app_id=self.config.app_id,
            namespace=self.config.namespace,
            home=self.config.home,
            logger=logging.getLogger(f"tandem.component.{name}"),
        )

    async def _start_internal(
        self, stack: AsyncExitStack, services: Services, resolver: NameResolver, gate: Gate
    ) -> int:
        """The sidecar-to-sidecar server on the internal port, then this sidecar's entry in the
        name resolver (withdrawn first on shutdown); returns the internal port."""
        cfg = self.config
        proxy_server = (
            TunnelServer(services.grpc_proxy.open_local, gate=gate, max_frame=cfg.max_body_size)
            if services.grpc_proxy is not None
            else None
        )
        server = InternalServer(
            services.invoke.call_local,
            addresses=cfg.listen_addresses,
            port=cfg.internal_grpc_port or 0,
            grace=cfg.graceful_shutdown_seconds,
            gate=gate,
            limits=HttpLimits(
                header_timeout=cfg.http_header_read_timeout,
                body_timeout=cfg.http_body_read_timeout,
                idle_timeout=cfg.http_idle_timeout,
                max_line_size=cfg.read_buffer_size,
            ),
            routes=[PrefixRoute("POST", GRPC_TUNNEL_PREFIX, proxy_server.handle)]
            if proxy_server is not None
            else [],
        )
        await server.start()
        stack.push_async_callback(server.stop)
        if isinstance(resolver, RegisteringResolver):
            host = cfg.listen_addresses[0]
            if host in ("0.0.0.0", "::", ""):
                host = socket.gethostname()
            await resolver.register(
                Registration(
                    app_id=cfg.app_id,
                    namespace=cfg.namespace,
                    address=Address(host, server.port),
                    pid=os.getpid(),
                    hostname=socket.gethostname(),
                )
            )
            stack.push_async_callback(resolver.unregister)
        log.info(
            "sidecar-to-sidecar calls on port %d (%s)",
            server.port,
            "mTLS" if gate.mtls else "cleartext",
        )
        return server.port

    def _services(
        self,
        components: ComponentStore,
        observer: Observer,
        resiliency: Resiliency,
        invoke: InvokeService,
        grpc_proxy: GrpcProxyService | None = None,
    ) -> Services:
        """The building-block services both APIs serve (one per block, built once)."""
        cfg = self.config
        state = StateService(
            components,
            app_id=cfg.app_id,
            namespace=cfg.namespace,
            observer=observer,
            resiliency=resiliency,
        )
        metadata = MetadataService(
            components,
            app_id=cfg.app_id,
            app_connection=AppConnection(
                port=cfg.app_port,
                protocol=cfg.app_protocol.value,
                channel_address=cfg.app_channel_address,
                max_concurrency=cfg.app_max_concurrency if cfg.app_max_concurrency > 0 else None,
                health_check_path=cfg.app_health_check_path
                if cfg.enable_app_health_check
                else None,
                health_probe_interval=f"{cfg.app_health_probe_interval:g}s",
                health_probe_timeout=f"{int(cfg.app_health_probe_timeout * 1000)}ms",
                health_threshold=cfg.app_health_threshold,
            ),
        )
        configuration = ConfigurationService(
            components,
            app_channel=lambda: self.app_channel,
            observer=observer,
            resiliency=resiliency,
            app_id=cfg.app_id,
        )
        pubsub = PubSubService(
            components, app_id=cfg.app_id, observer=observer, resiliency=resiliency
        )
        flags = None
        if components.flags():
            from runtime.services.flags import FlagsService, flag_telemetry

            metrics = observer.metrics if isinstance(observer, TelemetryObserver) else None
            flags = FlagsService(
                [(c.name, c.instance) for c in components.flags()],
                observe=flag_telemetry(metrics, self.config.app_id),
            )
            self._flags_as_configuration(components, flags)
        subscriptions = SubscriptionManager(
            pubsub,
            app_id=cfg.app_id,
            namespace=cfg.namespace,
            status=self.status,
            declarative=self._declarative,
        )
        metadata.set_subscriptions(lambda: [info(a) for a in subscriptions.active()])
        self._outbox = Outbox(components, pubsub, app_id=cfg.app_id)
        state.set_outbox(self._outbox)
        return Services(
            state=state,
            metadata=metadata,
            status=self.status,
            invoke=invoke,
            configuration=configuration,
            pubsub=pubsub,
            subscriptions=subscriptions,
            flags=flags,
            secrets=self._secrets_service(components, observer, resiliency),
            grpc_proxy=grpc_proxy,
        )

    def _secrets_service(
        self, components: ComponentStore, observer: Observer, resiliency: Resiliency
    ) -> SecretsService:
        spec = self.configuration.model.secrets
        entries = [
            (s.storeName, s.defaultAccess, s.allowedSecrets, s.deniedSecrets)
            for s in (spec.scopes if spec else [])
        ]
        return SecretsService(
            components,
            scopes=SecretsService.scopes_from(entries),
            observer=observer,
            resiliency=resiliency,
        )

    async def _start_delivery(
        self, stack: AsyncExitStack, services: Services, manager: SubscriptionManager
    ) -> None:
        """Deliver events to the app (and streaming clients) until shutdown; stopped before
        the app channel and the components close."""
        task = asyncio.create_task(manager.run(self.app_channel), name="pubsub-delivery")
        outbox, state = self._outbox, services.state
        if outbox is not None:
            await outbox.start(state)

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await manager.aclose()
            if outbox is not None:
                await outbox.aclose()

        stack.push_async_callback(stop)

    @staticmethod
    def _flags_as_configuration(components: ComponentStore, flags: FlagsService) -> None:
        """Each flag source is also a configuration store of its name (Dapr SDKs read flags)."""
        from runtime.compstore import CONFIGURATION, LiveComponent
        from runtime.services.flags_configuration import FlagsConfigurationView

        for live in components.flags():
            view = FlagsConfigurationView(flags, live.name)
            components.add_view(
                LiveComponent(
                    name=live.name,
                    type=live.type,
                    version=live.version,
                    block=CONFIGURATION,
                    instance=view,
                )
            )

    @staticmethod
    async def _bind_flag_sources(components: ComponentStore) -> None:
        """Flag sources kept in configuration stores (``flags.configuration``) get their store
        once every component is up; one that cannot load stops start-up."""
        if not components.flags():
            return
        from components.flags.engine import FlagSetError
        from runtime.resources.build import ComponentInitError
        from runtime.services.flags import bind_sources

        try:
            await bind_sources(components)
        except FlagSetError as exc:
            raise ComponentInitError(str(exc)) from exc

    async def _close_app_channel(self) -> None:
        if self.app_channel is not None:
            await self.app_channel.aclose()

    async def _start_metrics(self, stack: AsyncExitStack) -> Metrics | None:
        cfg = self.config
        from_config = self.configuration.metrics_enabled
        if not cfg.enable_metrics or from_config is False:
            return None
        from runtime.observability.metrics import Metrics, serve_metrics

        metrics = Metrics(cfg.app_id)
        try:
            runner = await serve_metrics(
                metrics, addresses=cfg.listen_addresses, port=cfg.metrics_port
            )
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror} (--metrics-port)") from exc
        stack.push_async_callback(runner.cleanup)
        urls = (
            f"http://{f'[{a}]' if ':' in a else a}:{cfg.metrics_port}/metrics"
            for a in cfg.listen_addresses
        )
        log.info("metrics on %s", ", ".join(urls))
        return metrics

    async def _start_apis(
        self,
        stack: AsyncExitStack,
        services: Services,
        metrics: Metrics | None,
    ) -> None:
        from runtime.api.grpc.server import GrpcServer
        from runtime.api.http.limits import HttpLimits
        from runtime.api.http.server import HttpServer, build_app

        cfg = self.config
        limits = HttpLimits(
            max_body=cfg.max_body_size,
            max_inflight_body=cfg.max_inflight_body_size,
            header_timeout=cfg.http_header_read_timeout,
            body_timeout=cfg.http_body_read_timeout,
            idle_timeout=cfg.http_idle_timeout,
            max_line_size=cfg.read_buffer_size,
        )
        api_logging = cfg.enable_api_logging or bool(self.configuration.api_logging)
        grpc_server = GrpcServer(
            services=services,
            addresses=cfg.listen_addresses,
            port=cfg.grpc_port,
            max_message_size=cfg.max_body_size,
            api_token=cfg.api_token,
            extra_ports=[(cfg.flagd_port, "--flagd-port")] if cfg.flagd_port else (),
            telemetry=GrpcTelemetry(metrics, app_id=cfg.app_id, api_logging=api_logging),
        )
        await grpc_server.start()
        stack.push_async_callback(lambda: grpc_server.stop(self._api_grace()))
        app = build_app(
            services=services,
            max_body_size=cfg.max_body_size,
            api_token=cfg.api_token,
            telemetry=HttpTelemetry(metrics, app_id=cfg.app_id, api_logging=api_logging),
            limits=limits,
        )
        http_server = HttpServer(
            app,
            addresses=cfg.listen_addresses,
            port=cfg.http_port,
            grace=cfg.graceful_shutdown_seconds,
            limits=limits,
        )
        await http_server.start()
        stack.push_async_callback(lambda: http_server.stop(self._api_grace()))

    def _api_grace(self) -> float:
        """How long the APIs drain requests in flight: the grace period, none when forced."""
        return 0.0 if self.status.force_exit else self.config.graceful_shutdown_seconds

    async def _serve(self, stack: AsyncExitStack, services: Services) -> int:
        cfg = self.config
        loop = asyncio.get_running_loop()
        received: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            log.info("received %s; shutting down", sig.name)
            received.append(sig)
            self.status.request_shutdown()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
            stack.callback(loop.remove_signal_handler, sig)

        app: AppProcess | None = None
        if cfg.app_command:
            app = AppProcess(cfg)
            await app.start()
            services.metadata.set_runtime_attribute("appPID", str(app.pid))
            services.metadata.set_runtime_attribute("appCommand", " ".join(cfg.app_command))
        health = asyncio.create_task(
            AppHealth(cfg, self.status, self.app_channel).run(), name="app-health"
        )
        ready_log = asyncio.create_task(self._log_ready(), name="ready-log")

        waiters: set[asyncio.Task[Any]] = {
            asyncio.create_task(self.status.shutdown_requested.wait(), name="shutdown")
        }
        app_wait: asyncio.Task[int] | None = None
        if app is not None:
            app_wait = asyncio.create_task(app.wait(), name="app-exit")
            waiters.add(app_wait)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in (*waiters, health, ready_log):
            if not task.done():
                task.cancel()
        for task in (health, ready_log):
            with contextlib.suppress(asyncio.CancelledError):
                await task

        code = 0
        if app is not None:
            if app_wait is not None and app_wait.done() and not app_wait.cancelled():
                code = app_wait.result()
                log.info("app exited with code %d; shutting down", code)
            else:
                sig = received[0] if received else signal.SIGTERM
                app.signal(sig)
                stopped = await app.stop(cfg.graceful_shutdown_seconds)
                code = stopped if stopped is not None else 0
        if self.status.force_exit:
            # Dapr exits 1 at once; we still close components and flush spans (each bounded
            # by the grace period) on the way out, and leave ending the process to ``main``.
            log.warning("forced shutdown requested; exiting with code 1")
            code = 1
        log.info("draining (up to %.1fs) and closing components", cfg.graceful_shutdown_seconds)
        return code

    async def _log_ready(self) -> None:
        while not self.status.ready:
            await self.status.app_ready_changed.wait()
        log.info("tandem is ready (app channel up) after %.3fs", time.monotonic() - self.started_at)
