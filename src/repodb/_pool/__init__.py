"""Internals of ``repodb.pool``: server health with backoff, and the pool's bookkeeping."""
