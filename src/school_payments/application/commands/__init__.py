"""Commands: one transaction each, committed whole or not at all, then statements invalidated."""
