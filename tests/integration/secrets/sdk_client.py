"""Read a Tandem sidecar's secrets with the official ``dapr`` Python SDK; print JSON facts.

Run as a script, never imported by pytest (see ``test_dapr_sdk``): the SDK's generated protos and
Tandem's (``protos.*``) declare the same protobuf symbols and cannot share one process.

    DAPR_HTTP_PORT=... DAPR_GRPC_PORT=... python sdk_client.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError


def _error(fn: Callable[[], Any]) -> dict[str, Any]:
    """What the SDK raises for ``fn()``: its gRPC code and Dapr error code, read as an app
    would. The SDK's secret calls raise grpc's RpcError as is (its state calls wrap it in
    DaprGrpcError); ``DaprGrpcError(err)`` reads the rich status either way."""
    try:
        fn()
    except (DaprGrpcError, grpc.RpcError) as exc:
        err: Any = exc if isinstance(exc, DaprGrpcError) else DaprGrpcError(exc)
        return {
            "type": "RpcError",
            "code": err.code().name,
            "error_code": err.error_code(),
            "message": err.details(),
        }
    except Exception as err:
        return {"type": type(err).__name__, "message": str(err)}
    return {"type": None}


def run() -> dict[str, Any]:
    facts: dict[str, Any] = {"protos_loaded": any(m.startswith("protos") for m in sys.modules)}
    with DaprClient() as client:
        facts["plain"] = dict(client.get_secret("localsecretstore", "plain").secret)
        facts["multi"] = dict(client.get_secret("multistore", "nested").secret)
        bulk = client.get_bulk_secret("localsecretstore").secrets
        facts["bulk"] = {name: dict(values) for name, values in bulk.items()}
        facts["env_bulk"] = {
            name: dict(values)
            for name, values in client.get_bulk_secret("envstore").secrets.items()
        }
        facts["denied"] = _error(lambda: client.get_secret("localsecretstore", "denied"))
        facts["missing"] = _error(lambda: client.get_secret("localsecretstore", "nope"))
        facts["unknown_store"] = _error(lambda: client.get_secret("nostore", "plain"))
        facts["unknown_store_bulk"] = _error(lambda: client.get_bulk_secret("nostore"))
    return facts


if __name__ == "__main__":
    print(json.dumps(run()))
