"""``python -m repodb``: the ``repodb`` command line, for when the script is not on PATH.

Example::

    $ python -m repodb status
"""

from __future__ import annotations

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
