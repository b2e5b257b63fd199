"""``TraceContextFilter``: trace and span ids on every log record, for the formatter."""

from __future__ import annotations

import logging

from opentelemetry import trace

__all__ = ["TraceContextFilter"]


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` (32 hex) and ``span_id`` (16 hex) of the current span to each record,
    or empty strings outside a trace. Attach it to handlers, e.g. with the format
    ``"%(asctime)s %(levelname)s %(name)s trace_id=%(trace_id)s %(message)s"``.
    Values already set on the record (``extra=``) are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None) is None:
            span_context = trace.get_current_span().get_span_context()
            if span_context.is_valid:
                record.trace_id = format(span_context.trace_id, "032x")
                record.span_id = format(span_context.span_id, "016x")
            else:
                record.trace_id = ""
                record.span_id = ""
        return True
