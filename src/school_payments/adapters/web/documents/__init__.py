"""Statements as documents people hand over: PDF and CSV renderings of the JSON statement, the
choice between them (`Accept`), and the HTTP validators (`ETag`, `If-None-Match`).

Every rendering starts from the JSON document the statement query returns (the one the cache
keeps), so all three show the same figures and are current for exactly the same writes.
"""
