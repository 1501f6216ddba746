"""Every check of every suite, by suite name: what tools that list checks read (the spec site, ``--list``).

The suites' registries themselves live beside their checks
(:data:`rrp_conformance.server.suite.SERVER_CHECKS`,
:data:`rrp_conformance.client.checks.CLIENT_CHECKS`); this module only gathers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .client.checks import CLIENT_CHECKS
from .registry import Registry
from .server.suite import SERVER_CHECKS

#: Suite name -> its checks, in run order.
SUITES: Mapping[str, Registry[Any]] = {"server": SERVER_CHECKS, "client": CLIENT_CHECKS}
