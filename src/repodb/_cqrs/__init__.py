"""Internals of ``repodb.multipool`` and ``repodb.cqrs``: server probes and replica lag."""
