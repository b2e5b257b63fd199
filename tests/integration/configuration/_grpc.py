"""gRPC side of the configuration tests: stubs over Tandem's generated protos, and a
subscription stream read on a background thread (imports ``protos``: never ``dapr`` next to it).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc

from protos.dapr.runtime.v1 import configuration_pb2 as pb
from protos.dapr.runtime.v1 import dapr_pb2_grpc

__all__ = ["Grpc", "Stream", "items"]


def items(msg: Any) -> dict[str, dict[str, Any]]:
    return {
        k: {"value": v.value, "version": v.version, "metadata": dict(v.metadata)}
        for k, v in msg.items.items()
    }


class Stream:
    """A SubscribeConfiguration call; ``messages`` fills as the server sends."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.messages: queue.Queue[Any] = queue.Queue()
        self.received: list[Any] = []
        self.error: grpc.RpcError | None = None
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for msg in self.call:
                self.received.append(msg)
                self.messages.put(msg)
        except grpc.RpcError as err:
            self.error = err
        finally:
            self.ended.set()

    def first(self, timeout: float = 10.0) -> Any:
        return self.messages.get(timeout=timeout)

    def latest(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for msg in list(self.received):
            out.update(items(msg))
        return out

    def cancel(self) -> None:
        self.call.cancel()


class Grpc:
    def __init__(self, target: str, timeout: float = 30.0) -> None:
        self.channel = grpc.insecure_channel(target)
        self.dapr = dapr_pb2_grpc.DaprStub(self.channel)
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def get(self, store: str, keys: list[str], alpha1: bool = False) -> dict[str, Any]:
        rpc = self.dapr.GetConfigurationAlpha1 if alpha1 else self.dapr.GetConfiguration
        resp = rpc(pb.GetConfigurationRequest(store_name=store, keys=keys), timeout=self.timeout)
        return items(resp)

    def subscribe(self, store: str, keys: list[str], alpha1: bool = False) -> Stream:
        rpc = self.dapr.SubscribeConfigurationAlpha1 if alpha1 else self.dapr.SubscribeConfiguration
        return Stream(rpc(pb.SubscribeConfigurationRequest(store_name=store, keys=keys)))

    def unsubscribe(self, store: str, sub_id: str) -> Any:
        return self.dapr.UnsubscribeConfiguration(
            pb.UnsubscribeConfigurationRequest(store_name=store, id=sub_id), timeout=self.timeout
        )
