"""The local runtime: in-memory Pulsar, the Context, function instances and the runner."""
