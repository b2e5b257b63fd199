"""Log setup: readable lines by default, one JSON object per line with ``--log-as-json``.

Every record carries the app id, and the trace and span ids when it is logged inside a traced
request (filled by the observability log filter when tracing is on).
"""

from __future__ import annotations

import json
import logging
import sys
import time

from aiohttp.http_exceptions import HttpProcessingError
from google.protobuf.message import DecodeError

__all__ = ["setup_logging"]


class _Context(logging.Filter):
    def __init__(self, app_id: str) -> None:
        super().__init__()
        self._app_id = app_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.app_id = self._app_id
        if not hasattr(record, "trace_id"):
            setattr(record, "trace_id", "")  # noqa: B010 (LogRecord has no declared field)
            setattr(record, "span_id", "")  # noqa: B010
        return True


def _timestamp(record: logging.LogRecord) -> str:
    t = time.gmtime(record.created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "scope": record.name,
            "msg": record.getMessage(),
            "app_id": getattr(record, "app_id", ""),
        }
        if getattr(record, "trace_id", ""):
            out["trace_id"] = getattr(record, "trace_id", "")
            out["span_id"] = getattr(record, "span_id", "")
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        trace_id = getattr(record, "trace_id", "")
        if trace_id:
            line += f" trace_id={trace_id} span_id={getattr(record, 'span_id', '')}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _ClientErrors(logging.Filter):
    """Malformed requests are the client's mistake, but aiohttp logs each one its parser
    rejects (bad request line, oversized header, bad framing: answered 400) and gRPC each
    message it cannot decode as an ERROR with a traceback. Those become one DEBUG line, shown
    only at ``--log-level debug``."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self._debug = debug

    @staticmethod
    def _client_error(record: logging.LogRecord) -> str | None:
        exc = record.exc_info[1] if record.exc_info else None
        if (
            record.name == "aiohttp.server"
            and isinstance(exc, HttpProcessingError)
            and 400 <= (exc.code or 400) < 500
        ):
            return exc.message.strip().splitlines()[0] if exc.message else str(exc.code)
        if record.name.startswith("grpc") and isinstance(exc, DecodeError):
            return str(exc)
        return None

    def filter(self, record: logging.LogRecord) -> bool:
        reason = self._client_error(record)
        if reason is None:
            return True
        if not self._debug:
            return False
        record.msg, record.args = "%s: %s", (record.getMessage(), reason)
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info = record.exc_text = None
        return True


def setup_logging(
    *, level: str, as_json: bool, app_id: str, extra_filters: list[logging.Filter] | None = None
) -> None:
    """``tandem.*`` loggers at ``level``; other libraries' warnings and errors (aiohttp,
    asyncio, grpc) go through the same handler, so every line has the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    for f in extra_filters or []:
        handler.addFilter(f)
    handler.addFilter(_Context(app_id))
    handler.addFilter(_ClientErrors(debug=level.upper() == "DEBUG"))
    setattr(handler, "_tandem", True)  # noqa: B010 (marks the handler for a repeated setup)
    root = logging.getLogger("tandem")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    others = logging.getLogger()
    others.handlers[:] = [h for h in others.handlers if not getattr(h, "_tandem", False)]
    others.addHandler(handler)
