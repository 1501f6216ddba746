"""The RRP/1 specification site's generator.

An mkdocs plugin (:class:`rrp_docs.plugin.RrpSpecPlugin`) expands directives in the
page sources into tables, requirement lists and SVG diagrams computed from
:mod:`rrp_spec` at build time, so that the site cannot drift from the spec:

* ``<!-- rrp:NAME key=value ... -->`` on a line of its own: a generated block
  (:mod:`rrp_docs.directives` lists them);
* ``[[UDP-SRV-5]]``: a link to that requirement's anchor on the requirements page;
* ``{{ MAX_UDP_PAYLOAD }}`` or ``{{ DEFAULT_RETRY_POLICY.initial_timeout:g }}``: a value
  of :mod:`rrp_spec`, with an optional format spec.

An unknown directive, requirement ID or name fails the build.
"""
