"""Traces, metrics and log correlation. Services record signals only through ``Observer``.

Modules (import what you use; nothing here loads the OpenTelemetry SDK or an exporter):

* ``observer``     the ``Observer`` seam and ``NOOP_OBSERVER``
* ``tracing``      ``TracingSettings.from_config``, ``setup_tracing`` / ``TracingHandle``,
                   ``get_tracer``, ``tracing_enabled``
* ``propagation``  W3C trace context for HTTP headers, gRPC metadata and CloudEvents
* ``metrics``      ``Metrics`` (own Prometheus registry), ``metrics_app`` / ``serve_metrics``
* ``instrument``   ``http_middleware``, ``GrpcTelemetryInterceptor``, ``TelemetryObserver``,
                   ``TraceContextFilter``: the pieces the servers and lifecycle wire in
"""

from runtime.observability.observer import NOOP_OBSERVER, Observer

__all__ = ["NOOP_OBSERVER", "Observer"]
