"""``make bench``: measure the RRP reference server against naive Python servers and a C server.

The pieces, one job each:

* ``bench/c/rrp-load.c``, the busy-polling C load generator, and ``bench/c/rrp-server.c``, the C server
  that stands for the machine's practical limit (built by ``make bench-tools``);
* :mod:`rrp_bench.naive_blocking` and :mod:`rrp_bench.naive_asyncio`, the servers a user would write
  without any protection (UNSAFE: for benchmarks only);
* :mod:`rrp_bench.servers` starts any of the four servers and reads its listening addresses;
* :mod:`rrp_bench.load` runs the generator and parses its JSON line;
* :mod:`rrp_bench.codec` times the header codecs; :mod:`rrp_bench.attack` holds stalled connections open;
* :mod:`rrp_bench.runner` alternates the servers round by round; :mod:`rrp_bench.report` writes the
  Markdown report, the JSON results and the chart.
"""
