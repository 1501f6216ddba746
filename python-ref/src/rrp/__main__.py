"""``python -m rrp``: the same as the ``rrp`` command."""

from .cli import main

raise SystemExit(main())
