"""Fault tests: real PostgreSQL and Redis servers stopped, frozen and cut off under load."""
