"""Drive a Tandem sidecar's state API with the official ``dapr`` Python SDK; print JSON facts.

Run as a script, never imported by pytest (see ``test_dapr_sdk``): the SDK's generated protos and
Tandem's (``protos.*``) declare the same protobuf symbols and cannot share one process.

    DAPR_HTTP_PORT=... DAPR_GRPC_PORT=... python sdk_client.py STORE PREFIX STALE_ETAG QUERY

``PREFIX`` makes the keys unique; ``STALE_ETAG`` is a well-formed ETag of the store that no
item has; ``QUERY`` is ``1`` when the store declares QUERY_API. The output is one JSON object of
observations (bytes as latin-1 text); the test asserts on them.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, Consistency, StateOptions

BINARY = b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"


def _text(data: bytes | str) -> str:
    return data.decode("latin-1") if isinstance(data, bytes) else data


def _error(fn: Callable[[], Any]) -> dict[str, Any]:
    """What the SDK raises for ``fn()``: its class, gRPC code and Dapr error code."""
    try:
        fn()
    except DaprGrpcError as exc:
        err: Any = exc  # the SDK's error methods are not annotated
        details = err.status_details()
        info = details.error_info or {}
        return {
            "type": type(exc).__name__,
            "code": err.code().name,
            "error_code": err.error_code(),
            "metadata": dict(info.get("metadata") or {}),
            "message": err.details(),
            "resource_info": details.resource_info,
            "bad_request": details.bad_request,
        }
    except Exception as err:
        return {"type": type(err).__name__, "message": str(err)}
    return {"type": None}


def run(store: str, prefix: str, stale: str, query: bool) -> dict[str, Any]:
    facts: dict[str, Any] = {"protos_loaded": any(m.startswith("protos") for m in sys.modules)}

    def k(name: str) -> str:
        return f"{prefix}-{name}"

    with DaprClient() as client:
        # CRUD and exact bytes
        client.save_state(store, k("bin"), BINARY)
        client.save_state(store, k("str"), "hello wörld")
        got = client.get_state(store, k("bin"))
        facts["bin"] = {"data": _text(got.data), "etag": got.etag}
        facts["str"] = _text(client.get_state(store, k("str")).data)
        missing = client.get_state(store, k("missing"))
        facts["missing"] = {"data": _text(missing.data), "etag": missing.etag}

        # ETags
        e1 = got.etag
        client.save_state(store, k("bin"), b"v2", etag=e1)
        e2 = client.get_state(store, k("bin")).etag
        facts["etag_changed"] = e2 != e1
        facts["save_stale"] = _error(lambda: client.save_state(store, k("bin"), b"v3", etag=e1))
        facts["save_invalid"] = _error(
            lambda: client.save_state(store, k("bin"), b"v3", etag="not an etag!")
        )
        facts["after_stale"] = _text(client.get_state(store, k("bin")).data)
        first = StateOptions(concurrency=Concurrency.first_write, consistency=Consistency.strong)
        client.save_state(store, k("fw"), b"one", options=first)
        facts["first_write_again"] = _error(
            lambda: client.save_state(store, k("fw"), b"two", options=first)
        )
        facts["delete_stale"] = _error(
            lambda: client.delete_state(store, k("bin"), etag=e1, options=first)
        )
        client.delete_state(store, k("bin"), etag=e2, options=first)
        facts["deleted"] = client.get_state(store, k("bin")).etag == ""

        # bulk get
        client.save_state(store, k("b1"), b"1")
        client.save_state(store, k("b2"), BINARY)
        bulk = client.get_bulk_state(store, [k("b1"), k("nope"), k("b2")], parallelism=2)
        facts["bulk"] = [
            {"key": i.key, "data": _text(i.data), "etag": i.etag, "error": i.error}
            for i in bulk.items
        ]

        # transactions
        client.save_state(store, k("t3"), b"doomed")
        client.execute_state_transaction(
            store,
            [
                TransactionalStateOperation(key=k("t1"), data=b"one"),
                TransactionalStateOperation(key=k("t2"), data="two"),
                TransactionalStateOperation(
                    key=k("t3"), operation_type=TransactionOperationType.delete
                ),
            ],
        )
        facts["tx"] = [_text(client.get_state(store, k(n)).data) for n in ("t1", "t2", "t3")]
        facts["tx_stale"] = _error(
            lambda: client.execute_state_transaction(
                store,
                [
                    TransactionalStateOperation(key=k("t4"), data=b"new"),
                    TransactionalStateOperation(key=k("t1"), data=b"new", etag=stale),
                ],
            )
        )
        facts["tx_after_stale"] = [_text(client.get_state(store, k(n)).data) for n in ("t4", "t1")]

        # query
        if query:
            tag = prefix.replace("-", "")
            for i in range(3):
                doc = {"tag": tag, "n": i}
                client.save_state(store, k(f"q{i}"), json.dumps(doc))
            text = json.dumps(
                {"filter": {"EQ": {"tag": tag}}, "sort": [{"key": "n"}], "page": {"limit": 2}}
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "alpha" warning
                page1 = client.query_state(store, text)
                page2_text = json.loads(text)
                page2_text["page"]["token"] = page1.token
                page2 = client.query_state(store, json.dumps(page2_text))
            facts["query"] = {
                "page1": [
                    {"key": r.key, "n": r.json()["n"], "etag": r.etag} for r in page1.results
                ],
                "token": page1.token,
                "page2": [r.json()["n"] for r in page2.results],
                "page2_token": page2.token,
            }
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                facts["query_unsupported"] = _error(lambda: client.query_state(store, "{}"))

        # errors with rich details
        facts["unknown_store"] = _error(lambda: client.get_state("no-such-store", k("x")))
        facts["illegal_key"] = _error(lambda: client.save_state(store, "a||b", b"1"))
        facts["bad_ttl"] = _error(
            lambda: client.save_state(
                store, k("ttl"), b"1", state_metadata={"ttlInSeconds": "soon"}
            )
        )
    return facts


def main() -> None:
    store, prefix, stale, query = sys.argv[1:5]
    print(json.dumps(run(store, prefix, stale, query == "1")))


if __name__ == "__main__":
    main()
