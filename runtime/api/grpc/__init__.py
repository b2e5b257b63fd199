"""The Dapr-compatible gRPC API (grpc.aio)."""
