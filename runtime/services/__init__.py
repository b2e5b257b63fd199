"""Building-block semantics shared by the HTTP and gRPC APIs (the only place they live)."""
