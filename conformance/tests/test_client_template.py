"""The client command template: placeholders, validation, rendering without a shell."""

from __future__ import annotations

import pytest

from rrp_conformance.client.template import CallParameters, CommandTemplate, TemplateError
from rrp_spec import DEFAULT_RETRY_POLICY, Op, Transport


def _parameters(transport: Transport = Transport.UDP, host: str = "127.0.0.1") -> CallParameters:
    return CallParameters(transport, host, 4000, Op.ECHO, b"\x01\xab", 1.5, DEFAULT_RETRY_POLICY)


def test_renders_every_placeholder_word_by_word() -> None:
    template = CommandTemplate.parse(
        "my-client '{url}' {op} --hex {payload_hex} -t {timeout} -n {attempts} {initial_timeout}/{max_timeout} "
        "{transport} {host} {port}"
    )
    argv = template.render(_parameters().fields())
    assert argv == ("my-client", "udp://127.0.0.1:4000", "1", "--hex", "01ab", "-t", "1.5", "-n", "5", "0.1/2",
                    "udp", "127.0.0.1", "4000")  # fmt: skip


def test_ipv6_url_has_brackets() -> None:
    assert _parameters(Transport.TCP, "::1").url == "tcp://[::1]:4000"


def test_values_are_never_split_or_interpreted_by_a_shell() -> None:
    argv = CommandTemplate.parse("client '{url}; rm -rf /' {port}").render(_parameters().fields())
    assert argv == ("client", "udp://127.0.0.1:4000; rm -rf /", "4000")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("client {nope} {url}", "{nope}"),
        ("client {url!r}", "format spec"),
        ("client {url:>10}", "format spec"),
        ("client 'unclosed {url}", "cannot be split"),
        ("client {op}", "{url} or {port}"),
        ("client {url", "not a valid template"),
    ],
)
def test_bad_templates_get_one_sentence(text: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words.replace("{", r"\{").replace("}", r"\}")):
        CommandTemplate.parse(text)
