"""The local (development) secret stores: a JSON file and the sidecar's environment."""
