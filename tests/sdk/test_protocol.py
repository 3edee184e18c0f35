# SPDX-License-Identifier: MIT
"""Tests of clove_sdk.protocol: the header's exact bytes, the opcode numbers
(checked against the C kernel's proto.h when it is in the tree) and frame
encoding."""

from __future__ import annotations

import pathlib
import re

import pytest

from clove_sdk import HEADER_SIZE, MAGIC, Opcode, opcode_name
from clove_sdk.protocol import (MAX_REQUEST_PAYLOAD, encode_frame, pack_header,
                                unpack_header)

REPO = pathlib.Path(__file__).resolve().parents[2]

EXPECTED = {
    "NOOP": 0x00, "THINK": 0x01, "EXEC": 0x02, "READ": 0x03, "WRITE": 0x04,
    "SPAWN": 0x10, "KILL": 0x11, "LIST": 0x12, "PAUSE": 0x14, "RESUME": 0x15,
    "SEND": 0x20, "RECV": 0x21, "BROADCAST": 0x22, "REGISTER": 0x23,
    "STORE": 0x30, "FETCH": 0x31, "DELETE": 0x32, "KEYS": 0x33,
    "GET_PERMS": 0x40, "SET_PERMS": 0x41, "HTTP": 0x50,
    "SUBSCRIBE": 0x60, "UNSUBSCRIBE": 0x61, "POLL_EVENTS": 0x62, "EMIT": 0x63,
    "RECORD_START": 0x70, "RECORD_STOP": 0x71, "RECORD_STATUS": 0x72,
    "REPLAY_START": 0x73, "REPLAY_STATUS": 0x74,
    "GET_AUDIT_LOG": 0x76, "SET_AUDIT_CONFIG": 0x77, "ASYNC_POLL": 0x80,
    "METRICS_SYSTEM": 0xC0, "METRICS_AGENT": 0xC1, "METRICS_ALL_AGENTS": 0xC2,
    "METRICS_CGROUP": 0xC3, "LLM_REPORT": 0xF0, "HELLO": 0xFE, "EXIT": 0xFF,
}


def test_header_is_17_bytes_little_endian_packed():
    assert HEADER_SIZE == 17
    raw = pack_header(5, Opcode.EXEC, 10)
    assert raw == (b"\x54\x4e\x47\x41" + b"\x05\x00\x00\x00" + b"\x02"
                   + b"\x0a\x00\x00\x00\x00\x00\x00\x00")
    assert raw[:4] == b"TNGA"
    assert MAGIC == 0x41474E54


def test_header_round_trip_with_large_values():
    raw = pack_header(0xFFFFFFFF, 0xFF, (1 << 40) + 3)
    h = unpack_header(raw)
    assert (h.magic, h.agent_id, h.opcode, h.payload_size) == (
        MAGIC, 0xFFFFFFFF, 0xFF, (1 << 40) + 3)


def test_encode_frame_appends_payload():
    f = encode_frame(0, Opcode.HELLO, b"{}")
    assert len(f) == 19
    assert f[8] == 0xFE
    assert f[9:17] == (2).to_bytes(8, "little")
    assert f[17:] == b"{}"


@pytest.mark.parametrize("name,value", sorted(EXPECTED.items()))
def test_opcode_numbers(name, value):
    assert Opcode[name] == value
    assert opcode_name(value) == name


def test_world_and_tunnel_ranges_are_named():
    assert [o.value for o in Opcode if o.name.startswith("WORLD_")] == list(range(0xA0, 0xA9))
    assert [o.value for o in Opcode if o.name.startswith("TUNNEL_")] == list(range(0xB0, 0xB5))


def test_opcode_name_of_unknown_number():
    assert opcode_name(0x13) == "0x13"


def test_request_limit_is_one_mib():
    assert MAX_REQUEST_PAYLOAD == 1048576


def test_opcodes_match_the_c_kernel():
    header = REPO / "kernel" / "core" / "proto.h"
    if not header.exists():
        pytest.skip(f"{header} is not in this tree")
    found = dict(re.findall(r"\bOP_([A-Z_]+)\s*=\s*(0x[0-9A-Fa-f]+)", header.read_text()))
    assert found, "no OP_* constants found in proto.h"
    for name, value in found.items():
        assert name in Opcode.__members__, f"Opcode lacks {name} of proto.h"
        assert Opcode[name] == int(value, 16), name
