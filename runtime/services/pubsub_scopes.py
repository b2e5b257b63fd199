"""Topic scoping: which app may publish or subscribe to which topic of a pub/sub component.

Dapr's component metadata, read by the runtime (the component never sees it):

- ``allowedTopics``: ``a,b``; when set, no app may use any other topic;
- ``publishingScopes`` / ``subscriptionScopes``: ``app1=a,b;app2=;app3=c``; a listed app may
  publish / subscribe only to its topics (``app2=``: to none); apps not listed are unrestricted;
- ``protectedTopics``: ``a,b``; these may be used only by apps granted them in the scopes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TopicScopes"]


def _topics(text: str) -> frozenset[str]:
    return frozenset(t.strip() for t in text.split(",") if t.strip())


def _per_app(text: str) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for part in text.split(";"):
        app, sep, topics = part.partition("=")
        if sep and app.strip():
            out[app.strip()] = _topics(topics)
    return out


@dataclass(frozen=True, slots=True)
class TopicScopes:
    allowed: frozenset[str] | None
    protected: frozenset[str]
    publishing: Mapping[str, frozenset[str]]
    subscribing: Mapping[str, frozenset[str]]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> TopicScopes:
        """From the component's runtime metadata (lower-cased names)."""
        allowed = metadata.get("allowedtopics", "")
        return cls(
            allowed=_topics(allowed) if allowed.strip() else None,
            protected=_topics(metadata.get("protectedtopics", "")),
            publishing=_per_app(metadata.get("publishingscopes", "")),
            subscribing=_per_app(metadata.get("subscriptionscopes", "")),
        )

    def _allows(self, scopes: Mapping[str, frozenset[str]], app_id: str, topic: str) -> bool:
        granted = scopes.get(app_id)
        if granted is not None:
            return topic in granted
        if topic in self.protected:
            return False
        return self.allowed is None or topic in self.allowed

    def may_publish(self, app_id: str, topic: str) -> bool:
        return self._allows(self.publishing, app_id, topic)

    def may_subscribe(self, app_id: str, topic: str) -> bool:
        return self._allows(self.subscribing, app_id, topic)
