"""Migrations internals: operations, DDL, introspection, the runner."""
