"""Use cases: commands change state, queries read it; both talk to the world through ports."""
