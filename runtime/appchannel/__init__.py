"""The channel from the sidecar to the app (readiness and health so far)."""
