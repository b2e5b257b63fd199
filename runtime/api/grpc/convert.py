"""Protobuf ⇄ service dataclasses (pure functions)."""

from __future__ import annotations

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import metadata_pb2
from runtime.services.metadata import MetadataSnapshot
from runtime.services.state import DeleteItem, SaveItem

__all__ = ["CONCURRENCY", "CONSISTENCY", "delete_item", "metadata_response", "save_item"]

CONCURRENCY = {
    common_pb2.StateOptions.CONCURRENCY_FIRST_WRITE: "first-write",
    common_pb2.StateOptions.CONCURRENCY_LAST_WRITE: "last-write",
}
CONSISTENCY = {
    common_pb2.StateOptions.CONSISTENCY_EVENTUAL: "eventual",
    common_pb2.StateOptions.CONSISTENCY_STRONG: "strong",
}


def save_item(item: common_pb2.StateItem) -> SaveItem:
    return SaveItem(
        key=item.key,
        value=item.value,
        etag=item.etag.value if item.HasField("etag") else None,
        metadata=dict(item.metadata),
        concurrency=CONCURRENCY.get(item.options.concurrency),
        consistency=CONSISTENCY.get(item.options.consistency),
    )


def delete_item(item: common_pb2.StateItem) -> DeleteItem:
    return DeleteItem(
        key=item.key,
        etag=item.etag.value if item.HasField("etag") else None,
        metadata=dict(item.metadata),
        concurrency=CONCURRENCY.get(item.options.concurrency),
        consistency=CONSISTENCY.get(item.options.consistency),
    )


def metadata_response(s: MetadataSnapshot) -> metadata_pb2.GetMetadataResponse:
    app = s.app_connection
    conn = metadata_pb2.AppConnectionProperties(
        port=app.port or 0, protocol=app.protocol, channel_address=app.channel_address
    )
    if app.health_check_path:
        conn.health.CopyFrom(
            metadata_pb2.AppConnectionHealthProperties(
                health_check_path=app.health_check_path,
                health_probe_interval=app.health_probe_interval or "",
                health_probe_timeout=app.health_probe_timeout or "",
                health_threshold=app.health_threshold or 0,
            )
        )
    return metadata_pb2.GetMetadataResponse(
        id=s.id,
        runtime_version=s.runtime_version,
        registered_components=[
            metadata_pb2.RegisteredComponents(
                name=c.name, type=c.type, version=c.version, capabilities=list(c.capabilities)
            )
            for c in s.components
        ],
        extended_metadata=dict(s.extended),
        app_connection_properties=conn,
        enabled_features=list(s.enabled_features),
        subscriptions=[
            metadata_pb2.PubsubSubscription(
                pubsub_name=sub.pubsub_name,
                topic=sub.topic,
                metadata=dict(sub.metadata),
                rules=metadata_pb2.PubsubSubscriptionRules(
                    rules=[
                        metadata_pb2.PubsubSubscriptionRule(match=match, path=path)
                        for match, path in sub.rules
                    ]
                ),
                dead_letter_topic=sub.dead_letter_topic,
                type=metadata_pb2.PubsubSubscriptionType.Value(sub.type),
            )
            for sub in s.subscriptions
        ],
    )
