"""Traces, metrics and log correlation. Services record signals only through ``Observer``.

Modules (import what you use; nothing here loads the OpenTelemetry SDK or an exporter):

* ``observer``             the ``Observer`` seam and ``NOOP_OBSERVER``
* ``tracing_settings``     ``TracingSettings.from_config`` (a leaf: standard library only)
* ``tracing``              ``setup_tracing`` / ``TracingHandle``, ``get_tracer``,
                           ``tracing_enabled``, ``should_trace``
* ``propagation``          W3C trace context for HTTP headers, gRPC metadata and CloudEvents
* ``metrics``              ``Metrics`` (own Prometheus registry), ``metrics_app`` /
                           ``serve_metrics``
* ``component_telemetry``  ``TelemetryObserver``: the ``Observer`` given to the services
* ``http_telemetry``       ``HttpTelemetry``, called by the HTTP API's edge middleware
* ``grpc_telemetry``       ``GrpcTelemetry``, called by the gRPC API's one interceptor
* ``log_filter``           ``TraceContextFilter``: ``trace_id``/``span_id`` on log records
"""

from runtime.observability.observer import NOOP_OBSERVER, Observer

__all__ = ["API_LOGGER", "NOOP_OBSERVER", "Observer"]

API_LOGGER = "tandem.api"
"""Logger of the one-line-per-call API log (``--enable-api-logging``), HTTP and gRPC."""
