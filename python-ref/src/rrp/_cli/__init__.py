"""The ``rrp`` command: ``rrp serve`` and ``rrp call``."""
