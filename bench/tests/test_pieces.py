"""Unit tests of the harness's pure parts: the generated C header, address parsing, ratios and verdicts."""

from __future__ import annotations

import json
import re

import pytest

from rrp_bench.attack import source_for
from rrp_bench.gen_c_header import c_header
from rrp_bench.listen_args import Endpoint, parse_endpoint
from rrp_bench.load import LoadResult
from rrp_bench.naive_blocking import reply_to
from rrp_bench.report import Target, round_ratios, targets
from rrp_bench.runner import BenchResults, Measurement, RunSettings
from rrp_spec import HEADER_LAYOUT, HEADER_SIZE, Flag, Op, Result, pack_request, unpack_header


def _defines(text: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"^#define (RRP_\w+) (\d+)", text, re.MULTILINE)}


def test_c_header_carries_every_field_from_the_spec() -> None:
    defines = _defines(c_header())
    assert defines["RRP_HEADER_SIZE"] == HEADER_SIZE
    for field in HEADER_LAYOUT:
        assert defines[f"RRP_OFF_{field.name.upper()}"] == field.offset
        assert defines[f"RRP_LEN_{field.name.upper()}"] == field.size
    assert defines["RRP_OP_ECHO"] == Op.ECHO
    assert defines["RRP_RESULT_UNKNOWN_OPERATION"] == Result.UNKNOWN_OPERATION
    assert defines["RRP_FLAG_REPLY"] == Flag.REPLY


@pytest.mark.parametrize("text", ["10.0.0.1:7", "localhost:7", "127.0.0.1", "127.0.0.1:70000", "[::2]:7"])
def test_endpoints_off_loopback_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_endpoint(text)


def test_endpoints_on_loopback_parse_and_print_back() -> None:
    assert parse_endpoint("127.0.0.9:7000") == Endpoint("127.0.0.9", 7000)
    assert str(parse_endpoint("[::1]:7000")) == "[::1]:7000"


def test_attack_sources_never_include_the_honest_clients_address() -> None:
    assert [source_for(i, 32) for i in (0, 31, 32, 999)] == ["127.0.2.2", "127.0.2.2", "127.0.3.2", "127.0.33.2"]


def test_naive_reply_echoes_id_operation_and_payload() -> None:
    request = pack_request(Op.ECHO, 0xABC, b"payload")
    reply = reply_to(request[:HEADER_SIZE], request[HEADER_SIZE:])
    header = unpack_header(reply)
    assert (header.request_id, header.operation, header.flags, header.result) == (0xABC, Op.ECHO, Flag.REPLY, 0)
    assert reply[HEADER_SIZE:] == b"payload"


def _result(rps: float, p50: float = 10.0) -> LoadResult:
    line = dict.fromkeys(LoadResult.__dataclass_fields__, 0) | {"label": "", "rps": rps, "p50_us": p50}
    return LoadResult.from_json(json.dumps(line))


def _results(runs: list[Measurement]) -> BenchResults:
    settings = RunSettings(1, 0, 2, 64, ["reference", "naive-blocking"], ["udp-k64"], False, 0, 1, "tcp-1x64")
    return BenchResults(settings, {}, "", "", runs=runs)


def test_ratios_pair_rounds_and_skip_failed_runs() -> None:
    results = _results(
        [
            Measurement("udp-k64", "reference", 1, _result(200)),
            Measurement("udp-k64", "naive-blocking", 1, _result(100)),
            Measurement("udp-k64", "reference", 2, _result(300)),
            Measurement("udp-k64", "naive-blocking", 2, None, "server exited"),
        ]
    )
    assert round_ratios(results, "udp-k64", "naive-blocking") == [2.0]
    verdicts = {t.description: t.verdict for t in targets(results)}
    assert verdicts["UDP, K=64 req/s: reference / naive-blocking"] == "met"
    assert verdicts["UDP, K=64 req/s: reference / c (aim)"] == "not measured"


def test_target_bounds_point_both_ways() -> None:
    assert Target("x", 0.9, 1.0, at_least=True).verdict == "MISSED"
    assert Target("x", 1.3, 1.2, at_least=False).verdict == "MISSED"
    assert Target("x", 1.2, 1.2, at_least=False).verdict == "met"
