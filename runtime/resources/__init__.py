"""Resource files (Dapr YAML): reading, validating and turning them into live components."""
