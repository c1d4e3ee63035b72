"""A small blog: the application whose own test suite uses repodb's sandbox.

It lives in repodb's tests as a sample: ``tests/integration/test_sandbox.py``
runs its suite (``tests/sandbox_app/blog/tests``) with pytest against SQLite and
PostgreSQL and checks that the suite passes and leaves no rows behind. Its
asyncio twin (``async_service.py``, suite ``async_tests``) runs the same way
under each async test runner, from ``tests/integration/test_sandbox_async.py``.
"""
