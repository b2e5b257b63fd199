"""Tandem: a Dapr-compatible sidecar runtime."""

from runtime._version import __version__

__all__ = ["__version__"]
