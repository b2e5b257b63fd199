"""Start-up of the sidecar's security: mTLS on or off, the CA, the workload, the gate.

mTLS is on unless ``--enable-mtls=false`` or the Configuration's ``spec.mtls.enabled: false``
(the flag wins); off is logged as a warning. The trust domain is ``spec.accessControl.trustDomain``
(default ``public``), the namespace ``$NAMESPACE`` (default ``default``); the certificate lifetime
and backdating come from ``spec.mtls.workloadCertTTL`` / ``allowedClockSkew`` (24 h / 15 min).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from runtime.resources.configuration import ConfigurationSpec
from runtime.resources.issues import ConfigError, Issue
from runtime.security.acl import AccessPolicy
from runtime.security.gate import Gate
from runtime.security.spiffe import SpiffeId

if TYPE_CHECKING:
    from runtime.config import SidecarConfig
    from runtime.observability.metrics import Metrics

__all__ = ["exposed_without_token", "mtls_enabled", "start_security"]

log = logging.getLogger("tandem.security")


def _loopback(address: str) -> bool:
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:  # a host name: assume reachable from elsewhere
        return False


def exposed_without_token(cfg: SidecarConfig) -> list[str]:
    """The listen addresses other hosts can reach when no API token guards the APIs."""
    if cfg.api_token:
        return []
    return [a for a in cfg.listen_addresses if not _loopback(a)]


def mtls_enabled(flag: bool | None, spec: ConfigurationSpec) -> bool:
    if flag is not None:
        return flag
    return not (spec.mtls is not None and spec.mtls.enabled is False)


async def start_security(
    stack: AsyncExitStack,
    cfg: SidecarConfig,
    spec: ConfigurationSpec,
    env: Mapping[str, str],
    metrics: Metrics | None,
) -> Gate:
    """Configure the channel's TLS (``runtime.internal.tls``) and return the callee's gate;
    raises ConfigError naming the CA file or variable that is missing or unreadable."""
    from runtime.internal import tls

    exposed = exposed_without_token(cfg)
    if exposed:
        log.warning(
            "the Dapr APIs listen on %s, reachable from other hosts, and no API token is set: "
            "anyone who can connect can use them (set DAPR_API_TOKEN or --api-token-file)",
            ", ".join(exposed),
        )
    acl = spec.accessControl
    own = SpiffeId(acl.trustDomain if acl else "public", cfg.namespace or "default", cfg.app_id)
    policy = AccessPolicy(acl) if acl is not None else None
    if not mtls_enabled(cfg.enable_mtls, spec):
        log.warning(
            "mTLS between sidecars is OFF: calls to and from other sidecars are cleartext and "
            "callers are identified by a header anyone can set (see SECURITY.md)"
        )
        tls.configure(None)
        return Gate(own, mtls=False, policy=policy, metrics=metrics)
    # imported only with mTLS on: cryptography costs ~9 MB of RSS
    from runtime.security.ca import DEFAULT_SKEW, DEFAULT_TTL, CAError, CASource, load_authority
    from runtime.security.workload import Workload

    try:
        authority = load_authority(
            CASource(*cfg.ca_files), env, cfg.home, trust_domain=own.trust_domain
        )
    except CAError as exc:
        raise ConfigError([Issue("mTLS", str(exc))]) from None
    ttl = spec.mtls.workloadCertTTL if spec.mtls and spec.mtls.workloadCertTTL else None
    skew = spec.mtls.allowedClockSkew if spec.mtls and spec.mtls.allowedClockSkew else None
    workload = Workload(
        authority,
        own,
        ttl=dt.timedelta(seconds=ttl) if ttl else DEFAULT_TTL,
        skew=dt.timedelta(seconds=skew) if skew is not None else DEFAULT_SKEW,
    )
    tls.configure(workload)
    task = asyncio.create_task(workload.run_rotation(), name="tandem-cert-rotation")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        tls.configure(None)

    stack.push_async_callback(stop)
    return Gate(own, mtls=True, policy=policy, metrics=metrics)
