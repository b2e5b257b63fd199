"""Resolver metadata is validated before anything starts: bad addresses and templates fail
with the field named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components.nameresolution import Address
from components.nameresolution.dns import DnsMetadata
from components.nameresolution.static import StaticMetadata, parse_address


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:50002", Address("127.0.0.1", 50002)), ("[::1]:7", Address("::1", 7))],
)
def test_addresses(text: str, address: Address) -> None:
    assert parse_address(text) == address
    assert str(address) == text


@pytest.mark.parametrize("text", ["host", "host:", ":80", "host:0", "host:70000", "::1:80"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError, match=r"host:port|bracketed"):
        parse_address(text)


def test_static_apps_from_a_yaml_string_or_a_mapping() -> None:
    text = StaticMetadata.model_validate({"apps": "orders: 10.0.0.1:1\n"})
    mapping = StaticMetadata.model_validate({"Apps": {"orders": ["10.0.0.1:1"]}})
    assert text.apps == mapping.apps == {"orders": (Address("10.0.0.1", 1),)}


@pytest.mark.parametrize("apps", [{"orders": 5}, "[1, 2]", {"orders": ["nope"]}])
def test_static_bad_apps(apps: object) -> None:
    with pytest.raises(ValidationError, match="apps"):
        StaticMetadata.model_validate({"apps": apps})


@pytest.mark.parametrize("template", ["{appid}", "{app}:1", "{appid}:port"])
def test_dns_bad_templates(template: str) -> None:
    with pytest.raises(ValidationError, match="template"):
        DnsMetadata.model_validate({"template": template})
