"""Conformance cases of the secret stores."""
