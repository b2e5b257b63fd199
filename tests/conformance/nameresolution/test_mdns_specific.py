"""nameresolution.mdns beyond the contract: a sidecar on "another machine" killed without a
goodbye is forgotten once its records' TTL passes (its SRV record is re-queried and nobody
answers); metadata is validated."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from components.base import ComponentContext
from components.nameresolution.mdns import MdnsMetadata, MdnsResolver
from tests.conformance._harness import eventually
from tests.servers import unique

ROOT = Path(__file__).resolve().parents[3]
_MD = {"interfaces": "127.0.0.1", "serviceType": "_tandem-conf._tcp", "ttl": "2s"}

# registers app argv[1] as if from host "elsewhere" (so no pid check applies), then waits
_CHILD = textwrap.dedent(
    """
    import asyncio, logging, sys
    from pathlib import Path
    from components.base import ComponentContext
    from components.nameresolution import Address, Registration
    from components.nameresolution.mdns import MdnsMetadata, MdnsResolver

    async def main() -> None:
        md = MdnsMetadata.model_validate(dict(arg.split("=", 1) for arg in sys.argv[2:]))
        ctx = ComponentContext(name="nr", app_id="x", namespace="", home=Path("."),
                               logger=logging.getLogger("child"))
        resolver = MdnsResolver(md, context=ctx)
        await resolver.init()
        await resolver.register(Registration(app_id=sys.argv[1], namespace="default",
            address=Address("127.0.0.1", 41009), pid=1, hostname="elsewhere"))
        print("registered", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def _resolver(home: Path) -> MdnsResolver:
    context = ComponentContext(
        name="nr", app_id="a", namespace="", home=home, logger=logging.getLogger("t")
    )
    return MdnsResolver(MdnsMetadata.model_validate(_MD), context=context)


async def test_a_killed_remote_sidecar_is_forgotten_after_its_ttl(tmp_path: Path) -> None:
    app_id = unique("mk")
    reader = _resolver(tmp_path)
    await reader.init()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        app_id,
        *(f"{k}={v}" for k, v in _MD.items()),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"registered\n"

        async def seen() -> bool:
            return [str(a) for a in await reader.resolve(app_id, "default")] == ["127.0.0.1:41009"]

        await eventually(seen, within=10)
        child.send_signal(signal.SIGKILL)  # no goodbye
        await child.wait()

        async def forgotten() -> bool:
            return await reader.resolve(app_id, "default") == []

        await eventually(forgotten, within=20)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await reader.close()


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"serviceType": "tandem"}, "serviceType"),
        ({"serviceType": "_much-too-long-a-name._tcp"}, "serviceType"),
        ({"interfaces": "eth0"}, "interfaces"),
        ({"ttl": "500ms"}, "ttl"),
    ],
)
def test_bad_metadata_is_refused(metadata: dict[str, str], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        MdnsMetadata.model_validate(metadata)


def test_service_type_accepts_the_local_suffix() -> None:
    md = MdnsMetadata.model_validate({"serviceType": "_orders._tcp.local."})
    assert md.service_type == "_orders._tcp"
