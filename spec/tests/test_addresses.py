"""The one address parser and formatter: round trips, and one sentence for each kind of mistake."""

from __future__ import annotations

import ipaddress
import socket
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rrp_spec import Transport
from rrp_spec.addresses import (
    MAX_PORT,
    AddressError,
    format_address,
    format_url,
    parse_address,
    parse_url,
    require_destination,
)

ports = st.integers(0, MAX_PORT)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda ip: socket.inet_ntop(socket.AF_INET6, ip.packed))
_alnum = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
label = st.builds(lambda head, middle: head + middle, _alnum, st.sampled_from(["", "-a", "--0x"]))
# The last label starts with a letter: an all-digit one would read as a mistyped IPv4 address.
names = st.builds(
    lambda labels, top: ".".join([*labels, top]),
    st.lists(label, max_size=3),
    st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True),
)
hosts = st.one_of(ipv4, ipv6, names)


@given(hosts, ports)
def test_formatting_then_parsing_gives_the_address_back(host: str, port: int) -> None:
    assert parse_address(format_address((host, port))) == (host, port)


@given(st.sampled_from(list(Transport)), hosts, ports)
def test_urls_round_trip(transport: Transport, host: str, port: int) -> None:
    assert parse_url(format_url(transport, (host, port))) == (transport, (host, port))


@given(st.ip_addresses(v=6), ports)
def test_any_spelling_of_an_ipv6_address_parses_to_what_a_socket_reports(ip: ipaddress.IPv6Address, port: int) -> None:
    host, parsed_port = parse_address(f"[{ip.exploded.upper()}]:{port}")
    assert (host, parsed_port) == (socket.inet_ntop(socket.AF_INET6, ip.packed), port)
    assert parse_address(format_address((host, port))) == (host, port)


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_one_address_error(text: str) -> None:
    try:
        host, port = parse_address(text)
    except AddressError as error:
        assert str(error).count("\n") == 0
    else:
        assert 0 <= port <= MAX_PORT
        assert parse_address(format_address((host, port))) == (host, port)


def test_socket_addresses_drop_their_ipv6_flow_and_scope_fields() -> None:
    assert format_address(("::1", 7373, 0, 0)) == "[::1]:7373"
    assert format_address(("127.0.0.1", 7373)) == "127.0.0.1:7373"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:7373", ("127.0.0.1", 7373)),
        ("[::1]:0", ("::1", 0)),
        ("[0:0:0:0:0:0:0:1]:7", ("::1", 7)),
        ("localhost:7373", ("localhost", 7373)),
        ("LocalHost.:1", ("localhost.", 1)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_accepted_spellings(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "'127.0.0.1' is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7373)"),
        ("::1:7373", "'::1:7373' is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7373)"),
        (":7373", "':7373' is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7373)"),
        ("host:http", "'host:http' is not HOST:PORT (an IPv6 host goes in brackets: [::1]:7373)"),
        ("127.0.0.1:65536", "port 65536 in '127.0.0.1:65536' is not between 0 and 65535"),
        ("[127.0.0.1]:1", "'[127.0.0.1]:1': '127.0.0.1' in brackets is not an IPv6 address"),
        ("300.1.1.1:1", "'300.1.1.1:1': '300.1.1.1' is neither an IP address nor a host name"),
        ("-x:1", "'-x:1': '-x' is neither an IP address nor a host name"),
        ("a b:1", "'a b:1' contains spaces or control characters"),
    ],
)
def test_each_mistake_is_one_sentence(text: str, message: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_address(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1:7", "'127.0.0.1:7' is not a URL like udp://HOST:PORT or tcp://HOST:PORT (IPv6: udp://[::1]:7373)"),
        ("http://h:1", "unknown transport 'http' in 'http://h:1': use udp:// or tcp://"),
        ("udp://h:1/x", "'udp://h:1/x' is not a URL like udp://HOST:PORT or tcp://HOST:PORT (IPv6: udp://[::1]:7373)"),
        ("udp://u@h:1", "'udp://u@h:1' is not a URL like udp://HOST:PORT or tcp://HOST:PORT (IPv6: udp://[::1]:7373)"),
        ("tcp://h:99999", "port 99999 in 'tcp://h:99999' is not between 0 and 65535"),
    ],
)
def test_each_url_mistake_is_one_sentence(text: str, message: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_url(text)
    assert str(caught.value) == message


def test_a_destination_is_neither_port_0_nor_a_wildcard() -> None:
    assert require_destination(("localhost", 1)) == ("localhost", 1)
    with pytest.raises(AddressError, match=r"^'0\.0\.0\.0:7': 0\.0\.0\.0 is the wildcard .* try 127\.0\.0\.1:7$"):
        require_destination(("0.0.0.0", 7))
    with pytest.raises(AddressError, match=r"try \[::1\]:7$"):
        require_destination(("::", 7))
    with pytest.raises(AddressError, match="port 0 is what a server binds to"):
        require_destination(("127.0.0.1", 0))
