"""``tandem ca init|show|issue``: create, inspect and export the CA shared by sidecars.

``init`` creates the local CA in ``$TANDEM_HOME/ca/`` (refuses to replace one); ``show`` prints
the CA in use (files, Dapr variables or the local one) without its key; ``issue`` writes a
workload certificate, its key (0600) and the trust bundle for an app id into a folder. ``show``
and ``issue`` never create a CA: with none they fail, naming ``tandem ca init``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.security.ca import Authority, CASource

# `tandem run` builds its parser from this module: cryptography (~9 MB of RSS, ~50 ms) and the CA
# code are imported by the `ca` verbs only (and by the sidecar when mTLS is on).

__all__ = ["add_ca_parser", "add_ca_source_flags", "parse_duration", "run_ca"]


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``30m``, ``24h``, ``7d`` (a bare number is seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    scale = units.get(text[-1:])
    number = text[:-1] if scale else text
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 24h)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than zero")
    return dt.timedelta(seconds=value)


def add_ca_source_flags(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--trust-anchors-file", default=None, metavar="PEM")
    p.add_argument("--issuer-cert", default=None, metavar="PEM")
    p.add_argument("--issuer-key", default=None, metavar="PEM")


def add_ca_parser(sub: argparse._SubParsersAction[Any]) -> None:
    ca = sub.add_parser("ca", help="create, inspect and export the sidecars' CA")
    verbs = ca.add_subparsers(dest="ca_command", metavar="init|show|issue", required=True)
    init = verbs.add_parser("init", help="create the local CA in $TANDEM_HOME/ca")
    init.add_argument("--trust-domain", default="public")
    show = verbs.add_parser("show", help="print the CA in use (never its key)")
    show.add_argument("--pem", action="store_true", help="print the trust bundle as PEM")
    add_ca_source_flags(show)
    issue = verbs.add_parser("issue", help="write a workload certificate for an app id")
    issue.add_argument("--app-id", required=True)
    issue.add_argument("--namespace", default="default")
    issue.add_argument("--trust-domain", default="public")
    issue.add_argument("--ttl", type=parse_duration, default=dt.timedelta(hours=24))
    issue.add_argument("--out-dir", required=True, type=Path)
    add_ca_source_flags(issue)


def _source(ns: argparse.Namespace) -> CASource:
    from runtime.security.ca import CASource

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    return CASource(path(ns.trust_anchors_file), path(ns.issuer_cert), path(ns.issuer_key))


def _describe(authority: Authority) -> str:
    from cryptography.hazmat.primitives import hashes

    lines = [f"CA from {authority.origin}"]
    for cert in authority.anchors:
        fp = cert.fingerprint(hashes.SHA256()).hex(":")
        lines += [
            f"  trust anchor  {cert.subject.rfc4514_string()}",
            f"    valid       {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
            f"    sha256      {fp}",
        ]
    if authority.issuer not in authority.anchors:
        lines.append(f"  issuer        {authority.issuer.subject.rfc4514_string()}")
    return "\n".join(lines)


def run_ca(ns: argparse.Namespace, env: Mapping[str, str], home: Path) -> int:
    from cryptography.hazmat.primitives import serialization

    from runtime.security.ca import (
        Authority,
        CAError,
        load_authority,
        pem_bundle,
        presented_chain,
    )
    from runtime.security.spiffe import SpiffeError, checked_spiffe_id, checked_trust_domain

    try:
        if ns.ca_command == "init":
            folder = home / "ca"
            trust_domain = checked_trust_domain(ns.trust_domain)
            if (folder / "ca.key").exists() or (folder / "ca.crt").exists():
                raise CAError(f"{folder}: a CA already exists there (remove it to start over)")
            authority = Authority.create(trust_domain=trust_domain, origin=str(folder))
            authority.save(folder)
            print(_describe(authority))
            return 0
        if ns.ca_command == "show":
            authority = load_authority(_source(ns), env, home, create=False)
            if ns.pem:  # exactly the bundle's bytes: `tandem ca show --pem > ca.pem`
                sys.stdout.write(pem_bundle(list(authority.anchors)).decode())
            else:
                print(_describe(authority))
            return 0
        # a bad id is reported before the CA is looked for
        identity = checked_spiffe_id(ns.trust_domain, ns.namespace, ns.app_id)
        authority = load_authority(_source(ns), env, home, create=False)
        cert, key = authority.issue(identity, ttl=ns.ttl)
        out: Path = ns.out_dir
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path = out / "key.pem"
        key_path.unlink(missing_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        # with an intermediate issuer, cert.pem holds it after the certificate (the chain a
        # peer trusting only ca.pem needs)
        (out / "cert.pem").write_bytes(pem_bundle(presented_chain(authority, cert)))
        (out / "ca.pem").write_bytes(pem_bundle(list(authority.anchors)))
        print(f"{identity}: {out / 'cert.pem'}, {key_path}, {out / 'ca.pem'}")
        return 0
    except (CAError, SpiffeError, OSError) as exc:
        print(f"tandem ca {ns.ca_command}: {exc}", file=sys.stderr)
        return 1
