"""Robustness harnesses for RRP/1 servers.

- :mod:`rrp_robustness.fuzz`: atheris (libFuzzer) targets for the spec's decoders and the
  reference server cores, their seed corpus from the spec's vectors, and ``make fuzz``'s runner.
- :mod:`rrp_robustness.soak`: ``make soak``, the reference server under attack on loopback
  while honest clients measure what they get.
"""
