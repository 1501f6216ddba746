"""The client suite: grade any RRP/1 client that can be run from a command line.

For each check the suite starts its own hostile server on loopback (UDP or TCP,
scripted: it forges replies, drops requests, answers one byte at a time, closes
mid-reply or never answers) and runs the client under test once or more through
a command template. The adapter contract, the tests and the checks are described
in ``ADAPTER.md`` beside this file; the modules:

* :mod:`.template` - the command template and its placeholders
* :mod:`.runner` - one run of the client: a process with a hard limit, its output
* :mod:`.hostile_udp`, :mod:`.hostile_tcp` - the scripted servers
* :mod:`.forged` - the genuine reply and the forgeries a client must refuse
* :mod:`.requests` - judging the request a client sent
* :mod:`.schedule` - the tolerated range of a measured retransmission interval
* :mod:`.request_ids` - the statistical test of request IDs (CLI-1)
* :mod:`.calls`, :mod:`.checks` - one call against one server; the checks
* :mod:`.cli` - ``rrp-conformance client``
"""
