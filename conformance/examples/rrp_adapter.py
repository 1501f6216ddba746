"""rrp_adapter.py URL OP PAYLOAD_HEX TIMEOUT: one call through a client library, as the client suite runs it."""

import sys
from urllib.parse import urlsplit

from rrp import Client  # the library under test: put yours here

url, op, payload, timeout = urlsplit(sys.argv[1]), int(sys.argv[2]), bytes.fromhex(sys.argv[3]), float(sys.argv[4])
connect = Client.udp if url.scheme == "udp" else Client.tcp
try:
    with connect(url.hostname or "", url.port or 0) as client:
        reply = client.call(op, payload, timeout=timeout)
except Exception as error:  # an error result, a timeout, a failed connection: all exit non-zero
    sys.exit(f"error: {error}")
print(reply.payload.hex())
