"""``make soak``: the reference server under attack on loopback, measured by honest clients.

One run starts a server (:mod:`.server`), starts the honest clients in their own process
(:mod:`.honest`, so that the attackers' event loop cannot delay them), runs the attack
phases of :mod:`.plan` from other loopback addresses (:mod:`.attacks`, :mod:`.floods`),
stops the server with SIGTERM, and judges the whole run against the targets
(:mod:`.verdict`), written to ``build/soak/`` as JSON, Markdown and a PNG plot
(:mod:`.report`). Everything targets 127.0.0.0/8 only and stops by itself.
"""
