"""Queries: reads shaped for the client, limited to the caller's scope; they never change state."""
