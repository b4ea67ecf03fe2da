"""Benchmarks: the service measured end to end, beside what bounds it on the same machine."""
