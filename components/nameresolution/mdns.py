"""``nameresolution.mdns``: LAN discovery with multicast DNS / DNS-SD (the ``zeroconf`` library,
imported only when this resolver is configured: ``pip install tandem[mdns]``).

Each sidecar announces one DNS-SD service instance of type ``serviceType`` (default
``_tandem._tcp``): instance ``<hostname>-<pid>-<random>`` (Dapr's default instance id is
``<hostname>-<pid>``), SRV = its internal address and port, TXT = ``appid``, ``namespace``,
``pid``, ``hostname``. Every resolver browses that type from ``init`` on, so ``resolve`` reads
a map kept current by announcements (new replicas) and goodbyes (``unregister``/``close``).
A miss waits up to ``browseTimeout`` for an announcement (once per app id per ``ttl``), so an
unknown app id costs that wait at most once in a while.

Liveness: an instance's records carry ``ttl``. The resolver re-queries an instance once its SRV
record has expired (checked every ``ttl``/2) and forgets it when no answer comes: a sidecar that
died without a goodbye disappears within about 1.5 x ``ttl`` (zeroconf floors PTR records to
1125 s, so the browser alone would keep it for ~19 minutes). An instance announced from this
machine whose pid is gone is skipped at once.

Metadata (Dapr's ``mdns`` resolver has no user metadata; these are Tandem's):
``interfaces`` (``all``, or a comma-separated list of IPv4 addresses to announce and listen
on, e.g. ``127.0.0.1`` to stay on this machine), ``serviceType`` (``_tandem._tcp``: sidecars
with another type never see each other), ``ttl`` (30s), ``browseTimeout`` (1s). IPv4 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.nameresolution._api import Address, NameResolutionFeature, Registration
from components.nameresolution.sqlite import pid_alive

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

__all__ = ["MdnsMetadata", "MdnsResolver"]

_SERVICE_TYPE = re.compile(r"^_[A-Za-z0-9]([A-Za-z0-9-]{0,13}[A-Za-z0-9])?\._(tcp|udp)$")
_TYPE_SRV, _CLASS_IN = 33, 1  # DNS record type and class numbers
_MAX_TXT_VALUE = 240  # a TXT string is at most 255 bytes, "appid=" included
_MAX_PENDING = 256  # lookups of announced instances running at once
_MAX_WAITED = 1024
_MAX_INSTANCES = 4096  # sidecars kept from a LAN (memory stays bounded whatever is announced)
_LOOKUP_MS = 3000


class MdnsMetadata(BaseMetadata):
    interfaces: str = "all"
    service_type: str = Field(default="_tandem._tcp", alias="serviceType")
    ttl: Duration = 30.0
    browse_timeout: Duration = Field(default=1.0, alias="browseTimeout", ge=0)

    @field_validator("interfaces")
    @classmethod
    def _interfaces(cls, value: str) -> str:
        value = value.strip()
        if value.lower() != "all":
            for item in value.split(","):
                ipaddress.IPv4Address(item.strip())  # ValueError names the bad one
        return value

    @field_validator("service_type")
    @classmethod
    def _service_type(cls, value: str) -> str:
        value = value.strip().removesuffix(".local.").removesuffix(".")
        if not _SERVICE_TYPE.match(value):
            raise ValueError("serviceType must look like _name._tcp (name: 1-15 letters/digits/-)")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: float) -> float:
        if value < 1:
            raise ValueError("ttl must be at least 1s (DNS TTLs are whole seconds)")
        return value


@dataclass(frozen=True, slots=True)
class _Instance:
    app_id: str
    namespace: str
    address: Address
    pid: int
    hostname: str


class MdnsResolver:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="nameresolution.mdns")
    Metadata: ClassVar[type[BaseMetadata]] = MdnsMetadata

    def __init__(self, metadata: MdnsMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._log = context.logger
        self._type = f"{metadata.service_type}.local."
        self._hostname = socket.gethostname()
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._own: AsyncServiceInfo | None = None
        self._announcing: asyncio.Future[Any] | None = None
        self._instances: dict[str, _Instance] = {}  # instance name -> what it announced
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._waited: dict[tuple[str, str], float] = {}

    def features(self) -> frozenset[NameResolutionFeature]:
        return frozenset({NameResolutionFeature.REGISTER})

    def _addresses(self) -> list[str] | None:
        if self._md.interfaces.lower() == "all":
            return None
        return [item.strip() for item in self._md.interfaces.split(",")]

    async def init(self) -> None:
        if self._zc is not None:
            return
        from zeroconf import InterfaceChoice, IPVersion
        from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

        chosen = self._addresses()
        try:
            zc = AsyncZeroconf(
                interfaces=chosen if chosen is not None else InterfaceChoice.All,
                ip_version=IPVersion.V4Only,
            )
        except OSError as exc:
            raise ConnectionError(f"nameresolution.mdns: cannot use multicast DNS: {exc}") from None
        self._zc = zc
        self._browser = AsyncServiceBrowser(zc.zeroconf, self._type, handlers=[self._on_change])
        self._spawn(self._expire_loop())

    async def close(self) -> None:
        await self.unregister()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        browser, self._browser = self._browser, None
        if browser is not None:
            await browser.async_cancel()
        zc, self._zc = self._zc, None
        if zc is not None:
            await zc.async_close()
        self._instances.clear()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- browsing -------------------------------------------------------------------------

    def _on_change(self, **event: Any) -> None:
        """zeroconf's browser callback (in the event loop): name, state_change, ..."""
        from zeroconf import ServiceStateChange

        name = str(event["name"])
        if event["state_change"] is ServiceStateChange.Removed:
            if self._instances.pop(name, None) is not None:
                self._notify()
        elif len(self._tasks) < _MAX_PENDING:
            self._spawn(self._lookup(name))

    async def _lookup(self, name: str) -> bool:
        """Read an instance's SRV/TXT/A (from the cache, else the network); False if none."""
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo

        zc = self._zc
        if zc is None:
            return False
        info = AsyncServiceInfo(self._type, name)
        if not await info.async_request(zc.zeroconf, _LOOKUP_MS):
            return False
        props = info.decoded_properties
        addresses = info.parsed_addresses(IPVersion.V4Only)
        app_id, pid = props.get("appid"), props.get("pid") or ""
        if not app_id or not addresses or info.port is None:
            return True  # not a sidecar's announcement: answered, but nothing to keep
        if name not in self._instances and len(self._instances) >= _MAX_INSTANCES:
            self._log.warning("mDNS: over %d sidecars announced; %s ignored", _MAX_INSTANCES, name)
            return True
        self._instances[name] = _Instance(
            app_id=app_id,
            namespace=props.get("namespace") or "",
            address=Address(addresses[0], info.port),
            pid=int(pid) if pid.isdigit() else 0,
            hostname=props.get("hostname") or "",
        )
        self._notify()
        return True

    async def _expire_loop(self) -> None:
        """Every ttl/2: re-query instances whose SRV record expired; forget the silent ones."""
        while True:
            await asyncio.sleep(self._md.ttl / 2)
            if self._zc is None:
                return
            from zeroconf import current_time_millis

            cache, now = self._zc.zeroconf.cache, current_time_millis()
            stale = [
                name
                for name in self._instances
                if not any(
                    not r.is_expired(now)
                    for r in cache.async_all_by_details(name, _TYPE_SRV, _CLASS_IN)
                )
            ]
            answered = await asyncio.gather(*(self._lookup(n) for n in stale))
            gone = [name for name, ok in zip(stale, answered, strict=True) if not ok]
            for name in gone:
                self._instances.pop(name, None)
            if gone:
                self._notify()

    # ---- registry -------------------------------------------------------------------------

    async def register(self, registration: Registration) -> None:
        from zeroconf.asyncio import AsyncServiceInfo

        if self._zc is None:
            raise RuntimeError("nameresolution.mdns is not initialised")
        await self.unregister()
        r = registration
        if len(r.app_id.encode()) > _MAX_TXT_VALUE or len(r.namespace.encode()) > _MAX_TXT_VALUE:
            raise ValueError("an app id or namespace for mDNS must be at most 240 bytes")
        label = re.sub(r"[^A-Za-z0-9-]", "-", r.hostname)[:40]
        instance = f"{label}-{r.pid}-{uuid.uuid4().hex[:8]}"
        info = AsyncServiceInfo(
            self._type,
            f"{instance}.{self._type}",
            parsed_addresses=self._published(r.address.host),
            port=r.address.port,
            properties={
                "appid": r.app_id,
                "namespace": r.namespace,
                "pid": str(r.pid),
                "hostname": r.hostname[:_MAX_TXT_VALUE],
            },
            server=f"{instance}.local.",
            host_ttl=max(round(self._md.ttl), 1),
            other_ttl=max(round(self._md.ttl), 1),
        )
        # no probing for a conflicting name (RFC 6762 8.1, ~1 s at startup): the random suffix
        # makes the name unique; the announcements go out in the background
        announced = await self._zc.async_register_service(info, cooperating_responders=True)
        self._own = info
        self._announcing = asyncio.ensure_future(announced)

    def _published(self, host: str) -> list[str]:
        """The IPv4 addresses to announce for ``host``: itself when it is an IP literal, else
        (the sidecar listens on every interface) the configured interfaces' or every
        non-loopback interface's, loopback only when there is none."""
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(host)
            if isinstance(ip, ipaddress.IPv4Address) and not ip.is_unspecified:
                return [host]
        chosen = self._addresses()
        if chosen is not None:
            return chosen
        import ifaddr

        found = [
            str(ip.ip)
            for adapter in ifaddr.get_adapters()
            for ip in adapter.ips
            if ip.is_IPv4 and not ipaddress.IPv4Address(str(ip.ip)).is_loopback
        ]
        return list(dict.fromkeys(found)) or ["127.0.0.1"]

    async def unregister(self) -> None:
        announcing, self._announcing = self._announcing, None
        if announcing is not None and not announcing.done():  # never announce after goodbye
            announcing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await announcing
        info, self._own = self._own, None
        if info is not None and self._zc is not None:
            with contextlib.suppress(Exception):  # a goodbye is best effort; TTLs cover it
                await (await self._zc.async_unregister_service(info))

    # ---- lookup ---------------------------------------------------------------------------

    def _live(self, app_id: str, namespace: str) -> list[Address]:
        found = {
            i.address
            for i in list(self._instances.values())
            if i.app_id == app_id
            and i.namespace == namespace
            and not (i.hostname == self._hostname and not pid_alive(i.pid))
        }
        return sorted(found)

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        found = self._live(app_id, namespace)
        if found or self._md.browse_timeout == 0:
            return found
        key, now = (app_id, namespace), time.monotonic()
        last = self._waited.get(key)
        if last is not None and now - last < self._md.ttl:
            return found
        if len(self._waited) >= _MAX_WAITED:  # callers may name any number of app ids
            self._waited.clear()
        self._waited[key] = now
        deadline = now + self._md.browse_timeout
        while not found and (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
            found = self._live(app_id, namespace)
        if found:
            self._waited.pop(key, None)
        return found
