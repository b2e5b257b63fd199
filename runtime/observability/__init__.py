"""Traces, metrics and log correlation. Services record signals only through ``Observer``."""

from runtime.observability.observer import NOOP_OBSERVER, Observer

__all__ = ["NOOP_OBSERVER", "Observer"]
