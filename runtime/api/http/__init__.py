"""The Dapr-compatible HTTP API (aiohttp)."""
