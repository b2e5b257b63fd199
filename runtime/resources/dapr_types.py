"""Component types that Dapr (daprd + components-contrib) registers, by building block.

Facts only, used to tell a user "this is a Dapr component Tandem does not implement" apart from
a misspelt type. Within the blocks listed, any type starting with one of the ``PREFIXES`` (whole
families such as ``bindings.azure.``) counts as Dapr's.
"""

from __future__ import annotations

__all__ = ["DAPR_BLOCKS", "DAPR_TYPES", "is_dapr_type"]

# fmt: off
_BY_BLOCK: dict[str, tuple[str, ...]] = {
    "state": (
        "aerospike", "alicloud.tablestore", "aws.dynamodb", "azure.blobstorage",
        "azure.cosmosdb", "azure.sql", "azure.tablestorage", "cassandra",
        "cloudflare.workerskv", "cockroachdb", "coherence", "couchbase", "etcd",
        "gcp.firestore", "hashicorp.consul", "hazelcast", "in-memory", "jetstream",
        "memcached", "mongodb", "mysql", "oci.nosql", "oci.objectstorage", "oracledatabase",
        "postgresql", "redis", "rethinkdb", "sqlite", "sqlserver", "zookeeper",
    ),
    "pubsub": (
        "aws.snssqs", "azure.eventhubs", "azure.servicebus", "azure.servicebus.queues",
        "azure.servicebus.topics", "gcp.pubsub", "in-memory", "jetstream", "kafka", "kubemq",
        "mqtt", "mqtt3", "natsstreaming", "pulsar", "rabbitmq", "redis", "rocketmq", "solace.amqp",
    ),
    "bindings": (
        "alicloud.dingtalk.webhook", "alicloud.dubbo", "alicloud.oss", "alicloud.sls",
        "alicloud.tablestore", "apns", "aws.dynamodb", "aws.kinesis", "aws.s3", "aws.ses",
        "aws.sns", "aws.sqs", "azure.blobstorage", "azure.cosmosdb", "azure.cosmosdb.gremlinapi",
        "azure.eventgrid", "azure.eventhubs", "azure.openai", "azure.servicebusqueues",
        "azure.signalr", "azure.storagequeues", "commercetools", "cron", "dubbo",
        "gcp.bucket", "gcp.pubsub", "graphql", "http", "huawei.obs", "influx", "kafka",
        "kitex", "kubemq", "kubernetes", "localstorage", "mqtt", "mqtt3", "mysql", "postgres",
        "postgresql", "postmark", "rabbitmq", "redis", "rethinkdb.statechange", "sftp",
        "smtp", "twilio.sendgrid", "twilio.sms", "wasm", "zeebe.command", "zeebe.jobworker",
    ),
    "secretstores": (
        "alicloud.parameterstore", "aws.parameterstore", "aws.secretmanager",
        "azure.keyvault", "gcp.secretmanager", "hashicorp.vault", "huaweicloud.csms",
        "kubernetes", "local.env", "local.file", "tencentcloud.ssm",
    ),
    "configuration": ("azure.appconfig", "postgres", "postgresql", "redis"),
    "lock": ("redis",),
    "crypto": (
        "azure.keyvault", "dapr.jwks", "dapr.kubernetes.secrets", "dapr.localstorage",
    ),
    "nameresolution": ("consul", "kubernetes", "mdns", "nameformat", "sqlite", "structuredformat"),
    "middleware.http": (
        "bearer", "oauth2", "oauth2clientcredentials", "opa", "ratelimit", "routeralias",
        "routerchecker", "sentinel", "uppercase", "wasm",
    ),
    "conversation": (
        "anthropic", "aws.bedrock", "deepseek", "echo", "googleai", "huggingface", "mistral",
        "ollama", "openai",
    ),
}

# fmt: on

PREFIXES: tuple[str, ...] = ("bindings.zeebe.", "state.azure.", "pubsub.azure.")

DAPR_BLOCKS = frozenset(_BY_BLOCK)
DAPR_TYPES = frozenset(f"{block}.{name}" for block, names in _BY_BLOCK.items() for name in names)


def is_dapr_type(type_: str) -> bool:
    """True when ``type_`` (case-insensitive) is a component type that Dapr registers."""
    t = type_.lower()
    return t in DAPR_TYPES or t.startswith(PREFIXES)
