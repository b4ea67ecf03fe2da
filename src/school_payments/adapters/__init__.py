"""Adapters: the technologies behind the ports (HTTP, SQL, Redis, logs and metrics)."""
