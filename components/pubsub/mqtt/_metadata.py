"""Metadata of ``pubsub.mqtt3``: Dapr's names, matched case-insensitively.

- ``url`` (default ``tcp://localhost:1883``): ``tcp://[user[:password]@]host[:port]``;
  ``mqtt://`` is the same, ``ssl://`` / ``mqtts://`` / ``tls://`` use TLS (port 8883 by
  default) with the system CAs, or ``caCert`` (PEM text) and ``clientCert`` + ``clientKey``.
- ``qos`` (0, 1 or 2; default 1): of publishing and subscribing. 0 is at most once.
- ``retain`` (default false): publish retained messages.
- ``cleanSession`` (default false): false keeps each subscription's session at the broker
  (queued messages and unacknowledged ones survive a restart of the process); true starts
  every connection afresh (nothing is kept while the subscriber is away).
- ``consumerID``: accepted; the runtime passes it as the consumer group.
- ``redeliveryDelay`` (Tandem's, Duration, default 1s): how long a NACKed message waits before
  the component hands it to the handler again (see the package docstring).
- ``keepAlive`` (Tandem's, Duration, default 30s): MQTT keep-alive of each connection.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from components._metadata import Duration
from components.base import BaseMetadata

__all__ = ["MqttMetadata"]

_PLAIN = {"tcp", "mqtt"}
_TLS = {"ssl", "mqtts", "tls", "tcps"}


class MqttMetadata(BaseMetadata):
    url: SecretStr = Field(default=SecretStr("tcp://localhost:1883"), alias="url")
    qos: Literal[0, 1, 2] = Field(default=1, alias="qos")
    retain: bool = Field(default=False, alias="retain")
    clean_session: bool = Field(default=False, alias="cleanSession")
    consumer_id: str | None = Field(default=None, alias="consumerID")
    ca_cert: SecretStr | None = Field(default=None, alias="caCert")
    client_cert: SecretStr | None = Field(default=None, alias="clientCert")
    client_key: SecretStr | None = Field(default=None, alias="clientKey")
    redelivery_delay: Duration = Field(default=1.0, alias="redeliveryDelay", ge=0)
    keep_alive: Duration = Field(default=30.0, alias="keepAlive", ge=1)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("qos", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in _PLAIN | _TLS or not parts.hostname:
            raise ValueError("expected tcp://[user[:password]@]host[:port] (or ssl://...)")
        _ = parts.port  # raises ValueError on a bad port
        return value

    @model_validator(mode="after")
    def _pairs(self) -> MqttMetadata:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("clientCert and clientKey go together")
        return self

    @property
    def tls(self) -> bool:
        return urlsplit(self.url.get_secret_value()).scheme in _TLS

    @property
    def endpoint(self) -> tuple[str, int, str | None, str | None]:
        """(host, port, username, password) from ``url``."""
        parts = urlsplit(self.url.get_secret_value())
        assert parts.hostname is not None
        port = parts.port or (8883 if self.tls else 1883)
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return parts.hostname, port, user, password

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(
            cadata=self.ca_cert.get_secret_value() if self.ca_cert else None
        )
        if self.client_cert is not None and self.client_key is not None:
            # ssl loads a certificate chain from files only.
            with tempfile.TemporaryDirectory() as folder:
                cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
                cert.write_text(self.client_cert.get_secret_value())
                key.write_text(self.client_key.get_secret_value())
                key.chmod(0o600)
                context.load_cert_chain(cert, key)
        return context
