"""Coverage-guided fuzzing (atheris, i.e. libFuzzer) of the spec's decoders and the reference server cores.

Each target is a plain function from bytes to ``None`` in :mod:`.targets`: it feeds the
bytes to the code under test and raises only when the code under test broke its
contract (an exception other than :class:`rrp_spec.ProtocolViolation`, or an answer the
spec forbids). :mod:`.worker` hands one target to atheris; :mod:`.runner` runs every
target for a bounded time (``make fuzz``); :mod:`.corpus` builds the seed corpus from
``rrp-v1.json`` (rrp_spec's test vectors). The pytest suite replays the seeds and every saved finding
(``robustness/regressions/<target>/``) through the same functions, without atheris.

This package's ``__init__`` imports nothing, so that the worker can instrument
``rrp_spec`` and ``rrp`` before anything else imports them.
"""
