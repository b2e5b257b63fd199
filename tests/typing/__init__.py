"""Modules that mypy checks and pytest never runs: static contracts."""
