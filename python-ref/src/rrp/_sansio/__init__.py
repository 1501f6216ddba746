"""The RRP protocol without I/O: server and client cores that take bytes, transport facts and ``now``.

Nothing here opens a socket, reads a clock or starts a task; the adapters in ``rrp._aio`` and
``rrp._blocking`` do that and nothing else.
"""
