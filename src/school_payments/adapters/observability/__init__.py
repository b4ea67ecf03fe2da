"""Logs, request and trace ids, and metrics."""
