"""Child process: the OpenFeature Python SDK with one provider against a running sidecar.

Usage: ``openfeature_client.py MODE HTTP_PORT GRPC_PORT FLAG_FILE`` with MODE ``ofrep``,
``rpc`` or ``in-process``. Evaluates every flag type, targeting and a fractional rollout, then
edits the flag file and polls (with a deadline) until the change is seen; prints one JSON line.
Runs apart from pytest: the flagd provider's generated protos and Tandem's declare the same
symbols and cannot share a process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import ProviderStatus


def provider(mode: str, http_port: int, grpc_port: int) -> Any:
    if mode == "ofrep":
        from openfeature.contrib.provider.ofrep import OFREPProvider

        return OFREPProvider(f"http://127.0.0.1:{http_port}", timeout=5.0)
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType

    resolver = ResolverType.RPC if mode == "rpc" else ResolverType.IN_PROCESS
    return FlagdProvider(host="127.0.0.1", port=grpc_port, resolver_type=resolver, deadline_ms=5000)


def details(d: Any) -> dict[str, Any]:
    return {
        "value": d.value,
        "type": type(d.value).__name__,
        "variant": d.variant,
        "reason": str(getattr(d.reason, "value", d.reason)),
        "error": str(d.error_code.value) if d.error_code else None,
    }


def main() -> None:
    mode, http_port, grpc_port, flag_file = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        Path(sys.argv[4]),
    )
    api.set_provider(provider(mode, http_port, grpc_port))
    client = api.get_client()
    deadline = time.monotonic() + 15
    while client.get_provider_status() != ProviderStatus.READY and time.monotonic() < deadline:
        time.sleep(0.05)
    ctx = EvaluationContext("user-1", {"email": "x@example.com"})
    facts: dict[str, Any] = {"status": client.get_provider_status().value}
    facts["bool"] = details(client.get_boolean_details("bool-flag", False, ctx))
    facts["string"] = details(client.get_string_details("string-flag", "none", ctx))
    facts["int"] = details(client.get_integer_details("int-flag", 0, ctx))
    facts["float"] = details(client.get_float_details("float-flag", 0.0, ctx))
    facts["object"] = details(client.get_object_details("object-flag", {}, ctx))
    facts["targeted"] = details(client.get_boolean_details("targeted-flag", False, ctx))
    facts["untargeted"] = details(
        client.get_boolean_details(
            "targeted-flag", True, EvaluationContext("u2", {"email": "y@z.org"})
        )
    )
    facts["fractional"] = {
        name: client.get_string_value(
            "fractional-flag", "none", EvaluationContext("u", {"user": {"name": name}})
        )
        for name in ("jack", "queen", "ten")
    }
    facts["missing"] = details(client.get_boolean_details("nope", False, ctx))
    facts["mismatch"] = details(client.get_integer_details("string-flag", 7, ctx))
    facts["disabled"] = details(client.get_boolean_details("disabled-flag", False, ctx))
    document = json.loads(flag_file.read_text())
    document["flags"]["string-flag"]["defaultVariant"] = "blue"
    tmp = flag_file.with_suffix(".edit")
    tmp.write_text(json.dumps(document))
    tmp.replace(flag_file)
    deadline = time.monotonic() + 10
    seen = None
    while time.monotonic() < deadline:
        seen = client.get_string_value("string-flag", "none", ctx)
        if seen == "blue":
            break
        time.sleep(0.05)
    facts["after_edit"] = seen
    api.shutdown()
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
