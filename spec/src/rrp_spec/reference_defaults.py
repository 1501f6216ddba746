"""The reference implementation's defaults: policy, not protocol.

Nothing here is a requirement. Any value within the bounds in :mod:`rrp_spec.limits`
conforms, and another implementation may choose differently. These few live in
the spec package rather than in the reference (``rrp``) because others must
read them without importing the reference: the requirement catalogue quotes them
as examples ("reference default 2 s"), the test vectors assume the reference's
payload limits, and the conformance suite assumes them for a target that claims
no other value.

The reference server's settings (``rrp serve``, ``rrp.ServerSettings``) take their
defaults from here for these and declare the rest of their defaults themselves.
"""

from __future__ import annotations

from .limits import MAX_UDP_PAYLOAD, MIN_DEDUP_WINDOW

#: The port the reference server listens on, UDP and TCP alike, when given no address; the Wireshark dissector
#: looks for RRP there without a heuristic.
DEFAULT_PORT = 7373
#: Largest TCP payload the reference server accepts (1 MiB).
DEFAULT_TCP_MAX_PAYLOAD = 1 << 20
#: Largest UDP payload the reference server accepts: all that fits one datagram.
DEFAULT_UDP_MAX_PAYLOAD = MAX_UDP_PAYLOAD
#: The reference server's whole-request deadline over TCP, from a request's first byte.
DEFAULT_REQUEST_DEADLINE = 2.0
#: How long the reference server lets a TCP connection sit idle between requests.
DEFAULT_IDLE_TIMEOUT = 10.0
#: TCP connections the reference server holds open at once.
DEFAULT_MAX_CONNECTIONS = 1024
#: TCP connections the reference server holds open at once from one source (an IPv4 address, or an IPv6 /64).
DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 64
#: TCP connections the reference server holds open at once from one network (IPv4 /24, IPv6 /48): a quarter of
#: the global limit, so that filling every slot takes at least four networks.
DEFAULT_MAX_CONNECTIONS_PER_NETWORK = 256
#: The reference server's memory budget (TCP-SRV-14): request payload bytes being collected plus reply bytes not
#: yet sent, over all its TCP connections together. Hundreds of full-size requests in flight, far more than honest
#: traffic needs, and low enough that the server stays under 512 MiB on a small machine.
DEFAULT_MEMORY_BUDGET = 256 << 20
#: How long the reference server lets a write to a TCP peer stay blocked before dropping the connection.
DEFAULT_SEND_TIMEOUT = 5.0
#: The reference server's duplicate-reply window: twice the minimum, so that a
#: request delayed in the network as long as the whole retry span is still caught.
DEFAULT_DEDUP_WINDOW = 2 * MIN_DEDUP_WINDOW
#: The reference client's connect deadline over TCP.
DEFAULT_CONNECT_TIMEOUT = 2.0
#: How long the reference TCP client waits for each reply once its request is sent.
DEFAULT_REPLY_TIMEOUT = 5.0
