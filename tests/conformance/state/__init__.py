"""State store conformance: see components.yaml for the matrix and harness.py for the rules."""
