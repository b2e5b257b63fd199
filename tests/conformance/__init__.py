"""Conformance suites: the same cases for every component of a building block."""
