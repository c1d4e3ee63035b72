"""Compiling queries to SQL text and parameters, per dialect (internal)."""
