"""Fixtures shared by the integration tests (each test starts a real ``tandem`` process)."""
