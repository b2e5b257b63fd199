"""Commands beyond the single sidecar: ``tandem run -f`` (several apps) and ``tandem list``."""

__all__: list[str] = []
