"""A YAML reader for untrusted files: bounded in size, depth and alias expansion.

Shared by the resource loader (``runtime.resources``) and ``configuration.file``: it lives in
``components`` because components may not import the runtime.

PyYAML's ``safe_load`` shares aliased nodes, so an alias bomb ("billion laughs") loads quickly
but expands to billions of values as soon as anything walks it, and a deeply nested document
overflows the recursive composer with a bare ``RecursionError``. This loader counts every node
as it would be expanded (an alias costs the size of what it points to) and the nesting depth,
and refuses a document past either budget with a ``yaml.YAMLError`` that carries its position.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "ResourceYAMLError", "load_all"]

MAX_DEPTH = 64  # Dapr resources nest about 8 deep
MAX_NODES = 200_000  # expanded nodes per document; a large real resource file has a few thousand
MAX_FILE_BYTES = 16 << 20


class ResourceYAMLError(yaml.YAMLError):
    """A document refused by a budget (the message says which), with the position."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer tracks depth and the expanded size of every node."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}

    def compose_document(self) -> Node | None:
        self._expanded = 0
        self._sizes = {}
        node: Node | None = super().compose_document()
        return node

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            node: Node | None = super().compose_node(parent, index)
            self._count(self._sizes.get(id(node), 1), event)
            return node
        if isinstance(event, SequenceStartEvent | MappingStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise ResourceYAMLError(
                    f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
        before = self._expanded
        try:
            node = super().compose_node(parent, index)
        finally:
            if isinstance(event, SequenceStartEvent | MappingStartEvent):
                self._depth -= 1
        if isinstance(event, ScalarEvent):
            self._count(1, event)
        elif isinstance(node, SequenceNode | MappingNode):
            self._count(1, event)
            self._sizes[id(node)] = self._expanded - before
        return node

    def _count(self, size: int, event: yaml.Event) -> None:
        self._expanded += size
        if self._expanded > MAX_NODES:
            raise ResourceYAMLError(
                f"the document expands to more than {MAX_NODES} values"
                " (aliases are counted as many times as they are used)",
                event.start_mark,
            )


def load_all(text: str) -> Iterator[Any]:
    """The documents of ``text``, like ``yaml.safe_load_all`` within the budgets above.

    Raises ``yaml.YAMLError`` (a ``ResourceYAMLError`` for budgets) on the first bad document.
    """
    if len(text) > MAX_FILE_BYTES:
        raise ResourceYAMLError(f"file larger than {MAX_FILE_BYTES >> 20} MiB", None)
    loader = _BoundedLoader(text)
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            try:
                yield loader.get_data()
            except ValueError as exc:  # e.g. an integer past Python's digit limit
                mark = getattr(loader, "mark", None) or None
                raise ResourceYAMLError(f"invalid value: {exc}", mark) from None
            except RecursionError:
                raise ResourceYAMLError("nested too deeply", None) from None
    finally:
        loader.dispose()
