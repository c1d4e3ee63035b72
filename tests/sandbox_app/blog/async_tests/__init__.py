"""The async blog's own test suite, run with repodb's pytest plugin and an async test runner."""
