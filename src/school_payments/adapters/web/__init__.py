"""The HTTP adapter: FastAPI routers that translate requests into commands and queries."""
