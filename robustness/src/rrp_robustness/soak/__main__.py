"""``python -m rrp_robustness.soak``."""

from .run import main

raise SystemExit(main())
