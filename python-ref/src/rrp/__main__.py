"""``python -m rrp``: the same as the ``rrp`` command."""

from ._cli.main import main

raise SystemExit(main())
