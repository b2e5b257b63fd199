"""The feature-flags block: flag sources merged in order, evaluated with flagd's semantics.

Sources (``flags.*`` components, in resource order) each serve one flagd flag set; the merged
view holds every flag, a key in a later source replacing an earlier one. A selector
(``flagSetId=ID``, a bare ``ID``, or ``source=COMPONENT``) narrows the view to one set. Every
change bumps ``revision``, is logged with the keys that changed, and wakes ``watch()``ers
(OFREP SSE, flagd EventStream and SyncFlags).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from components.flags import (
    ErrorCode,
    FlagSource,
    FlagType,
    Resolution,
    Scalar,
    StoreBoundSource,
)
from components.flags.engine import Flag, FlagSetError, error, evaluate, parse_flag_set, typed
from runtime.services.flags_errors import FlagsRequestError

if TYPE_CHECKING:
    from runtime.compstore import ComponentStore
    from runtime.observability.metrics import Metrics

__all__ = [
    "MAX_CONTEXT_DEPTH",
    "MAX_CONTEXT_NODES",
    "Change",
    "FlagsService",
    "bind_sources",
    "check_context",
    "flag_telemetry",
]

log = logging.getLogger("tandem.flags")

MAX_CONTEXT_DEPTH = 32
MAX_CONTEXT_NODES = 10_000


def check_context(context: Any) -> dict[str, Any]:
    """``context`` as an evaluation context; FlagsRequestError INVALID_CONTEXT when it is not
    an object, nests deeper than MAX_CONTEXT_DEPTH or holds more than MAX_CONTEXT_NODES values."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise FlagsRequestError(ErrorCode.INVALID_CONTEXT, "context must be a JSON object")
    budget = MAX_CONTEXT_NODES
    stack: list[tuple[Any, int]] = [(context, 1)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise FlagsRequestError(
                ErrorCode.INVALID_CONTEXT, f"context holds more than {MAX_CONTEXT_NODES} values"
            )
        if depth > MAX_CONTEXT_DEPTH:
            raise FlagsRequestError(
                ErrorCode.INVALID_CONTEXT, f"context nests deeper than {MAX_CONTEXT_DEPTH}"
            )
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return context


@dataclass(frozen=True, slots=True)
class Change:
    """One change of the merged flags: ``flags`` maps each changed key to write/update/delete."""

    revision: int
    flags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _View:
    flags: Mapping[str, Flag]
    metadata: Mapping[str, Scalar]


Observe = Callable[[Resolution], None]
Default = tuple[str, Any, Mapping[str, Scalar]]  # (variant, value, metadata)


def flag_telemetry(metrics: Metrics | None, app_id: str) -> Observe:
    """What every evaluation reports (OpenTelemetry's ``feature_flag.evaluation``): a span
    event on the current span when it records, and a count per flag, variant, reason and error
    type. An unknown key counts under ``flag_key=""`` (callers choose keys: no unbounded label)."""
    cells: dict[tuple[str, str, str, str], Any] = {}
    counter = metrics.feature_flag_evaluations if metrics is not None else None

    def observe(res: Resolution) -> None:
        error = res.error_code.value if res.error_code is not None else ""
        span = trace.get_current_span()
        if span.is_recording():
            attributes: dict[str, str] = {
                "feature_flag.key": res.key,
                "feature_flag.provider.name": "tandem",
                "feature_flag.result.reason": res.reason.value.lower(),
            }
            if res.variant is not None:
                attributes["feature_flag.result.variant"] = res.variant
            if error:
                attributes["error.type"] = error.lower()
            span.add_event("feature_flag.evaluation", attributes)
        if counter is None:
            return
        key = "" if res.error_code is ErrorCode.FLAG_NOT_FOUND else res.key
        labels = (key, res.variant or "", res.reason.value, error)
        cell = cells.get(labels)
        if cell is None:
            if len(cells) >= 10_000:  # flags come from files, not callers; a backstop anyway
                return
            cell = cells[labels] = counter.labels(app_id, *labels)
        cell.inc()

    return observe


async def bind_sources(components: ComponentStore) -> None:
    """Hand each store-bound source (``flags.configuration``) its configuration store; raises
    FlagSetError naming the source when the store is missing or its flags cannot load."""
    for live in components.flags():
        source = live.instance
        if not isinstance(source, StoreBoundSource):
            continue
        store = components.configuration(source.store_name)
        if store is None:
            raise FlagSetError(
                f"flag source {live.name}: no configuration store named {source.store_name!r}"
            )
        try:
            await source.bind(store.instance)
        except FlagSetError as exc:
            raise FlagSetError(f"flag source {live.name}: {exc}") from None
        except Exception as exc:
            raise FlagSetError(f"flag source {live.name}: {type(exc).__name__}: {exc}") from exc


class FlagsService:
    def __init__(
        self, sources: Sequence[tuple[str, FlagSource]], *, observe: Observe | None = None
    ) -> None:
        self._observe = observe
        self._listeners: list[Callable[[Change], None]] = []
        self._sources = list(sources)
        self._unsubscribe: list[Callable[[], None]] = []
        self._per_source: list[tuple[str, dict[str, Flag], dict[str, Scalar]]] = []
        self._all = _View({}, {})
        self._views: dict[str, _View] = {}
        self.revision = 0
        self._changed = asyncio.Event()
        self._last_change = Change(0, {})
        self._rebuild(initial=True)
        for _, source in self._sources:
            self._unsubscribe.append(source.subscribe(self._on_source_change))

    @property
    def has_sources(self) -> bool:
        return bool(self._sources)

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # -- building the view ------------------------------------------------------------------

    def _on_source_change(self) -> None:
        try:
            self._rebuild(initial=False)
        except FlagSetError as exc:  # sources validate first; this is defence in depth
            log.error("flag change not applied: %s", exc)  # noqa: TRY400 (no traceback)

    def _rebuild(self, *, initial: bool) -> None:
        per_source = []
        for name, source in self._sources:
            document = source.flags().document
            flags = parse_flag_set(
                document, fractional=source.fractional, flag_set_id=source.flag_set_id
            )
            meta = dict(document.get("metadata") or {})
            if source.flag_set_id is not None:
                meta["flagSetId"] = source.flag_set_id
            per_source.append((name, flags, meta))
        merged: dict[str, Flag] = {}
        metadata: dict[str, Scalar] = {}
        for _, flags, meta in per_source:
            merged.update(flags)
            metadata.update(meta)
        old = self._all.flags
        changes: dict[str, str] = {}
        for key, flag in merged.items():
            before = old.get(key)
            if before is None:
                changes[key] = "write"
            elif (before.definition, before.metadata) != (flag.definition, flag.metadata):
                changes[key] = "update"
        changes.update({key: "delete" for key in old.keys() - merged.keys()})
        self._per_source = per_source
        self._all = _View(merged, metadata)
        self._views = {}
        if initial:
            log.info("feature flags: %d flag(s) from %d source(s)", len(merged), len(per_source))
            return
        if not changes:
            return
        self.revision += 1
        self._last_change = Change(self.revision, changes)
        log.info("feature flags changed: %s", ", ".join(f"{k} ({v})" for k, v in changes.items()))
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in list(self._listeners):
            try:
                listener(self._last_change)
            except Exception:
                log.exception("flag change listener failed")

    def on_change(self, listener: Callable[[Change], None]) -> None:
        """Call ``listener`` (on the event loop) after every change of the merged flags."""
        self._listeners.append(listener)

    def _view(self, selector: str | None) -> _View:
        if not selector:
            return self._all
        view = self._views.get(selector)
        if view is not None:
            return view
        name, sep, value = selector.partition("=")
        if not sep:
            name, value = "flagSetId", selector
        name, value = name.strip(), value.strip()
        flags: dict[str, Flag] = {}
        metadata: dict[str, Scalar] = {}
        if name == "flagSetId":
            for _, source_flags, meta in self._per_source:
                flags.update({k: f for k, f in source_flags.items() if f.flag_set_id == value})
                if meta.get("flagSetId") == value:
                    metadata.update(meta)
        elif name == "source":
            for source_name, source_flags, meta in self._per_source:
                if source_name == value:
                    flags.update(source_flags)
                    metadata.update(meta)
        else:
            raise FlagsRequestError(ErrorCode.GENERAL, f"invalid selector {selector!r}")
        if len(self._views) < 64:
            self._views[selector] = view = _View(flags, metadata)
        else:
            view = _View(flags, metadata)
        return view

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(
        self,
        key: str,
        context: Mapping[str, Any],
        *,
        kind: FlagType = FlagType.ANY,
        selector: str | None = None,
    ) -> Resolution:
        view = self._view(selector)
        flag = view.flags.get(key)
        if flag is None:
            res = error(key, ErrorCode.FLAG_NOT_FOUND, f"flag {key!r} not found", view.metadata)
        else:
            res = typed(evaluate(flag, context), kind)
        if self._observe is not None:
            self._observe(res)
        return res

    def evaluate_all(
        self, context: Mapping[str, Any], *, selector: str | None = None
    ) -> tuple[list[Resolution], Mapping[str, Scalar]]:
        view = self._view(selector)
        results = [evaluate(flag, context) for flag in view.flags.values()]
        if self._observe is not None:
            for res in results:
                self._observe(res)
        return results, view.metadata

    def defaults(
        self, selector: str | None = None
    ) -> dict[str, tuple[str, Any, Mapping[str, Scalar]]]:
        """Each enabled flag with a default variant: (variant, value, metadata)."""
        return {
            key: (flag.default_variant, flag.variants[flag.default_variant], flag.metadata)
            for key, flag in self._view(selector).flags.items()
            if flag.enabled and flag.default_variant is not None
        }

    def flag_set_metadata(self, selector: str | None = None) -> Mapping[str, Scalar]:
        return self._view(selector).metadata

    def sync_document(self, selector: str | None = None) -> str:
        """The flags as flagd's sync protocol serves them: ``{"flags": {...}}`` JSON, with
        ``$evaluators`` inlined and each flag's merged metadata (flag-set metadata included)."""
        flags = {
            key: {**flag.definition, "metadata": dict(flag.metadata)}
            if flag.metadata
            else dict(flag.definition)
            for key, flag in self._view(selector).flags.items()
        }
        return json.dumps({"flags": flags}, separators=(",", ":"))

    def changed_keys_since(self, revision: int, selector: str | None = None) -> dict[str, str]:
        """The keys of the last change (all keys, as updates, when more than one was missed)."""
        if self._last_change.revision == revision + 1:
            return dict(self._last_change.flags)
        return {key: "update" for key in self._view(selector).flags}

    async def changes(self, *, stop: asyncio.Event, keepalive: float) -> AsyncIterator[int | None]:
        """For one subscriber: the revision after each change, None every ``keepalive``
        seconds without one; ends when ``stop`` is set (the sidecar shutting down)."""
        watch = aiter(self.watch())
        ended: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        change: asyncio.Future[Any] | None = None
        try:
            while True:
                if change is None:
                    change = asyncio.ensure_future(anext(watch))
                done, _ = await asyncio.wait(
                    {change, ended}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED
                )
                if ended in done:
                    return
                if change in done:
                    revision, change = change.result(), None
                    yield revision
                else:
                    yield None
        finally:
            for future in (change, ended):
                if future is not None:
                    future.cancel()

    async def watch(self) -> AsyncIterator[int]:
        """Yields the revision after every change, from the next change on."""
        seen = self.revision
        while True:
            while self.revision == seen:
                await self._changed.wait()
            seen = self.revision
            yield seen
