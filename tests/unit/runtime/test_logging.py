"""Log formatting and the filter that keeps clients' malformed requests out of the error log."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from google.protobuf.message import DecodeError

from runtime.logging import JsonFormatter, TextFormatter, _ClientErrors


def record(name: str, exc: BaseException | None, level: int = logging.ERROR) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(
        name, level, __file__, 1, "Error handling request from %s", ("127.0.0.1",), exc_info
    )


@pytest.mark.parametrize(
    ("name", "exc"),
    [
        ("aiohttp.server", LineTooLong("header", "8190")),
        ("aiohttp.server", BadHttpMessage("Invalid character in Content-Length")),
        ("grpc._cython.cygrpc", DecodeError("Wire format was corrupt")),
    ],
)
def test_client_errors_are_dropped_unless_debug(name: str, exc: BaseException) -> None:
    assert not _ClientErrors(debug=False).filter(record(name, exc))
    r = record(name, exc)
    assert _ClientErrors(debug=True).filter(r)
    assert r.levelno == logging.DEBUG
    assert r.levelname == "DEBUG"
    assert r.exc_info is None
    assert r.getMessage().startswith("Error handling request from 127.0.0.1: ")
    assert "\n" not in r.getMessage()


@pytest.mark.parametrize(
    ("name", "exc"),
    [
        ("aiohttp.server", RuntimeError("a real server error")),
        ("aiohttp.server", None),
        ("tandem.api.http", DecodeError("not from grpc")),
        ("asyncio", BadHttpMessage("not from aiohttp.server")),
    ],
)
def test_other_records_pass_unchanged(name: str, exc: BaseException | None) -> None:
    r = record(name, exc)
    assert _ClientErrors(debug=False).filter(r)
    assert r.levelno == logging.ERROR


def test_json_formatter_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        exc_info = sys.exc_info()
    r = logging.LogRecord("tandem.x", logging.ERROR, __file__, 1, "failed: %s", ("a\nb",), exc_info)
    r.app_id = "app"
    line = JsonFormatter().format(r)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "error"
    assert out["msg"] == "failed: a\nb"
    assert out["scope"] == "tandem.x"
    assert out["app_id"] == "app"
    assert "ValueError" in out["error"]


def test_text_formatter() -> None:
    r = logging.LogRecord("tandem.x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    line = TextFormatter().format(r)
    assert line.endswith(" INFO    tandem.x: hello world")
