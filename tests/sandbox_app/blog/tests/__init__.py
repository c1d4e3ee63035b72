"""The blog's own test suite, run with repodb's pytest plugin."""
