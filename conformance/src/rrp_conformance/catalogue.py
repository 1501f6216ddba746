"""Every check of every suite, by suite name: what tools that list checks read (the spec site, ``--list``).

The suites' registries themselves live beside their checks
(:data:`rrp_conformance.server.suite.SERVER_CHECKS`,
:data:`rrp_conformance.client.checks.CLIENT_CHECKS`); this module only gathers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .client.checks import CLIENT_CHECKS
from .client.checks_secure import SECURE_CLIENT_CHECKS
from .registry import Registry
from .server.suite import SERVER_CHECKS

#: Every client check in run order: plain RRP/1, then the secure profiles.
ALL_CLIENT_CHECKS = Registry.joined(CLIENT_CHECKS, SECURE_CLIENT_CHECKS)
#: Suite name -> its checks, in run order.
SUITES: Mapping[str, Registry[Any]] = {"server": SERVER_CHECKS, "client": ALL_CLIENT_CHECKS}
