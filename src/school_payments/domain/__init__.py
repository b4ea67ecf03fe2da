"""The rules of school billing: plain Python, no I/O, no framework."""
