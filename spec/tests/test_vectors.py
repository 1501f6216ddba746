"""The vector file is current, valid against its schema, and agrees with the codec and with a
decoder that knows nothing of this package."""

import json
import struct
from typing import Any

import jsonschema
import pytest

import rrp_spec
from rrp_spec import APPLICATION_RANGE_START, vectors

FILE = json.loads(vectors.data_file(vectors.VECTORS_NAME).read_text())
VECTORS = FILE["vectors"]


def _transports(vector: dict[str, Any]) -> list[str]:
    return ["udp", "tcp"] if vector["transport"] == "any" else [vector["transport"]]


CASES = [pytest.param(v, t, id=f"{v['name']}-{t}") for v in VECTORS for t in _transports(v)]


def test_file_is_current() -> None:
    assert vectors.VECTORS_PATH.read_text() == vectors.render(), "run 'make vectors'"


def test_file_matches_its_schema() -> None:
    schema = json.loads(vectors.data_file(vectors.SCHEMA_NAME).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(FILE, schema)


def test_names_are_unique_and_there_are_enough() -> None:
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names))
    assert len(VECTORS) >= 40


def test_boundaries_are_covered() -> None:
    decoded = [v["expect"]["decoded"] for v in VECTORS if "decoded" in v["expect"]]
    assert {1, rrp_spec.MAX_REQUEST_ID} <= {d["request_id"] for d in decoded}
    assert {0, rrp_spec.MAX_UDP_PAYLOAD, rrp_spec.MAX_UDP_PAYLOAD + 1} <= {d["size"] for d in decoded}
    sizes = {rrp_spec.unpack_header(bytes.fromhex(v["hex"])).size for v in VECTORS if len(v["hex"]) >= 40}
    assert {rrp_spec.MAX_UDP_PAYLOAD + 1, rrp_spec.MAX_SIZE_FIELD} <= sizes
    flag_values = {rrp_spec.unpack_header(bytes.fromhex(v["hex"])).flags for v in VECTORS if len(v["hex"]) >= 40}
    assert {1 << bit for bit in range(8)} <= flag_values


@pytest.mark.parametrize(("vector", "transport"), CASES)
def test_codec_gives_exactly_the_expectation(vector: dict[str, Any], transport: str) -> None:
    assert vectors.codec_expectation(vector, transport) == vector["expect"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if "decoded" in v["expect"]], ids=lambda v: v["name"])
def test_valid_vectors_round_trip_byte_for_byte(vector: dict[str, Any]) -> None:
    d = vector["expect"]["decoded"]
    header = rrp_spec.Header(
        version=d["version"],
        flags=d["flags"],
        operation=d["operation"],
        result=d["result"],
        request_id=d["request_id"],
        size=d["size"],
    )
    data = bytes.fromhex(vector["hex"])
    assert rrp_spec.pack_header(header) + bytes.fromhex(d["payload"]) == data[: 20 + d["size"]]


# --- An independent decoder: struct and the prose of the spec, nothing from rrp_spec. -------
RESULTS = {"MALFORMED": 1, "UNSUPPORTED_VERSION": 2, "UNKNOWN_OPERATION": 3, "SIZE_MISMATCH": 4, "TOO_LARGE": 5}
CODE = {v: k for k, v in RESULTS.items()}


def independent(data: bytes, transport: str, request: dict[str, int] | None, limits: dict[str, int]) -> dict[str, Any]:
    if len(data) < 20:
        return {"action": "ignore" if request else "drop"}
    magic, ver, flags, op, res, rid, size = struct.unpack(">2sBBHHQI", data[:20])
    end = 20 + size if transport == "tcp" else len(data)
    fields = {
        "version": ver,
        "flags": flags,
        "operation": op,
        "result": res,
        "request_id": rid,
        "size": size,
        "payload": data[20:end].hex(),
    }
    if request:  # a reply, as the client that sent `request` sees it
        unsolicited_busy = transport == "tcp" and (magic, ver, flags, op, res, rid, size) == (b"RR", 1, 1, 0, 7, 0, 0)
        ok = unsolicited_busy or (
            magic == b"RR"
            and ver == 1
            and flags == 1
            and rid == request["request_id"]
            and op == request["operation"]
            and end - 20 == size
            and (res == 0 or size == 0)
        )
        return {"decoded": fields} if ok else {"action": "ignore"}
    udp, err = transport == "udp", None
    if magic != b"RR" or flags & 1:
        return {"action": "drop" if udp else "close"}
    if ver != 1:
        err = 2
    elif udp and len(data) != 20 + size:
        err = 4
    elif size > limits["udp_max_payload" if udp else "tcp_max_payload"]:
        err = 5
    elif flags or res or not rid or (op == 2 and size):
        err = 1
    elif 2 < op < APPLICATION_RANGE_START:
        err = 3
    if err is None:
        return {"decoded": fields}
    closes = not udp and err in (2, 5)
    return {"action": "reply", "result": CODE[err], **({"then": "close"} if closes else {})}


@pytest.mark.parametrize(("vector", "transport"), CASES)
def test_an_independent_struct_decoder_agrees(vector: dict[str, Any], transport: str) -> None:
    data = bytes.fromhex(vector["hex"])
    assert independent(data, transport, vector.get("request"), FILE["limits"]) == vector["expect"]
