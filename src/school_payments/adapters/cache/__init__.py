"""Statement caches: Redis for production, an in-process twin for the embedded default."""
