"""Links from reports to the published spec site: each requirement ID to its row in the catalogue.

The site (``make docs``, published by ``.github/workflows/docs.yml``) builds with
non-directory URLs, so the catalogue is ``requirements.html`` and each requirement's
row carries the anchor ``#`` + its ID in lower case. A docs test builds the site and
checks that every link :func:`requirement_url` makes lands on an anchor that exists.
"""

from __future__ import annotations

import html

#: Where the spec site is published.
SPEC_SITE = "https://rrp-protocol.github.io/rrp/"
#: The catalogue page, relative to the site's root.
REQUIREMENTS_PAGE = "requirements.html"


def requirement_anchor(rid: str) -> str:
    """The fragment of requirement ``rid`` on the catalogue page: ``UDP-SRV-5`` -> ``udp-srv-5``."""
    return rid.lower()


def requirement_url(rid: str, site: str = SPEC_SITE) -> str:
    """The URL of requirement ``rid``'s row on the spec site."""
    return f"{site.rstrip('/')}/{REQUIREMENTS_PAGE}#{requirement_anchor(rid)}"


def markdown_link(rid: str) -> str:
    """``[UDP-SRV-5](https://.../requirements.html#udp-srv-5)``."""
    return f"[{rid}]({requirement_url(rid)})"


def html_link(rid: str) -> str:
    """An ``<a>`` to the requirement's row, opening in a new tab (a report is read offline, the site online)."""
    return f'<a class="req" href="{html.escape(requirement_url(rid))}" target="_blank" rel="noopener">{rid}</a>'
