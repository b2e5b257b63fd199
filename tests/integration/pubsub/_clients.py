"""Publishing over HTTP and over gRPC (Tandem's protos) behind one interface, for twin tests.

Imports ``protos``: the ``dapr`` SDK must never be imported next to this.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import grpc

from protos.dapr.runtime.v1 import dapr_pb2_grpc, pubsub_pb2
from tests.integration.harness import Response
from tests.integration.pubsub._support import PUBSUB, PubSubEnv
from tests.integration.state._grpc import RpcFailure, decode

__all__ = ["Entry", "GrpcPublisher", "HttpPublisher", "PublishFailed", "Publisher"]


class PublishFailed(Exception):
    def __init__(self, http: Response | None = None, rpc: RpcFailure | None = None) -> None:
        super().__init__(http.text if http else rpc.message if rpc else "")
        self.http = http
        self.rpc = rpc


@dataclass(frozen=True)
class Entry:
    entry_id: str
    data: bytes
    content_type: str = "application/json"
    metadata: Mapping[str, str] = field(default_factory=dict)


class Publisher(Protocol):
    def publish(
        self,
        topic: str,
        data: bytes,
        content_type: str = "",
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        pubsub: str = PUBSUB,
    ) -> None: ...

    def bulk(self, topic: str, entries: Sequence[Entry], pubsub: str = PUBSUB) -> list[str]:
        """The failed entry ids."""
        ...


class HttpPublisher:
    def __init__(self, env: PubSubEnv) -> None:
        self.env = env

    def publish(
        self,
        topic: str,
        data: bytes,
        content_type: str = "",
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        pubsub: str = PUBSUB,
    ) -> None:
        query = "&".join(f"metadata.{k}={quote(v)}" for k, v in (metadata or {}).items())
        path = f"/v1.0/publish/{pubsub}/{topic}" + (f"?{query}" if query else "")
        all_headers = {
            **(headers or {}),
            **({"Content-Type": content_type} if content_type else {}),
        }
        r = self.env.sidecar.request("POST", path, data, all_headers)
        if r.status != 204:
            raise PublishFailed(http=r)

    def bulk(self, topic: str, entries: Sequence[Entry], pubsub: str = PUBSUB) -> list[str]:
        body = []
        for e in entries:
            if e.content_type == "application/octet-stream":
                event: Any = base64.b64encode(e.data).decode()
            elif e.content_type.endswith("json"):
                event = json.loads(e.data)
            else:
                event = e.data.decode()
            item: dict[str, Any] = {
                "entryId": e.entry_id,
                "event": event,
                "contentType": e.content_type,
            }
            if e.metadata:
                item["metadata"] = dict(e.metadata)
            body.append(item)
        r = self.env.sidecar.request(
            "POST", f"/v1.0-alpha1/publish/bulk/{pubsub}/{topic}", json.dumps(body)
        )
        if r.status == 204:
            return []
        if r.status == 500 and "failedEntries" in r.text:
            return [f["entryId"] for f in r.json()["failedEntries"]]
        raise PublishFailed(http=r)


class GrpcPublisher:
    def __init__(self, env: PubSubEnv) -> None:
        self.channel = grpc.insecure_channel(env.sidecar.grpc_target)
        self.stub = dapr_pb2_grpc.DaprStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def publish(
        self,
        topic: str,
        data: bytes,
        content_type: str = "",
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        pubsub: str = PUBSUB,
    ) -> None:
        request = pubsub_pb2.PublishEventRequest(
            pubsub_name=pubsub,
            topic=topic,
            data=data,
            data_content_type=content_type,
            metadata=dict(metadata or {}),
        )
        try:
            self.stub.PublishEvent(request, metadata=tuple((headers or {}).items()), timeout=30)
        except grpc.RpcError as err:
            raise PublishFailed(rpc=decode(err)) from None

    def bulk(self, topic: str, entries: Sequence[Entry], pubsub: str = PUBSUB) -> list[str]:
        request = pubsub_pb2.BulkPublishRequest(
            pubsub_name=pubsub,
            topic=topic,
            entries=[
                pubsub_pb2.BulkPublishRequestEntry(
                    entry_id=e.entry_id,
                    event=e.data,
                    content_type=e.content_type,
                    metadata=dict(e.metadata),
                )
                for e in entries
            ],
        )
        try:
            response = self.stub.BulkPublishEventAlpha1(request, timeout=30)
        except grpc.RpcError as err:
            raise PublishFailed(rpc=decode(err)) from None
        return [f.entry_id for f in response.failedEntries]
