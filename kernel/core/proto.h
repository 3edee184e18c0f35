/* SPDX-License-Identifier: MIT */
/*
 * The Clove wire protocol: a 17-byte little-endian packed header
 * (u32 magic "AGNT", u32 agent_id, u8 opcode, u64 payload_size) followed by
 * payload_size bytes, JSON unless negotiated otherwise. Shared by cloved,
 * libclove and the benchmarks; pure functions, no I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x41474E54u
#define PROTO_HEADER_SIZE 17u
/* Largest request payload the kernel accepts (the original's limit). */
#define PROTO_MAX_REQUEST (1u << 20)
/* Largest reply payload the kernel sends; a bigger answer becomes an
 * EMSGSIZE error. READ (8 MiB, base64) and EXEC (2 MiB per stream) fit. */
#define PROTO_MAX_REPLY (16u << 20)

enum proto_opcode {
	OP_NOOP = 0x00,
	OP_THINK = 0x01,
	OP_EXEC = 0x02,
	OP_READ = 0x03,
	OP_WRITE = 0x04,
	OP_SPAWN = 0x10,
	OP_KILL = 0x11,
	OP_LIST = 0x12,
	OP_PAUSE = 0x14,
	OP_RESUME = 0x15,
	OP_SEND = 0x20,
	OP_RECV = 0x21,
	OP_BROADCAST = 0x22,
	OP_REGISTER = 0x23,
	OP_STORE = 0x30,
	OP_FETCH = 0x31,
	OP_DELETE = 0x32,
	OP_KEYS = 0x33,
	OP_GET_PERMS = 0x40,
	OP_SET_PERMS = 0x41,
	OP_HTTP = 0x50,
	OP_SUBSCRIBE = 0x60,
	OP_UNSUBSCRIBE = 0x61,
	OP_POLL_EVENTS = 0x62,
	OP_EMIT = 0x63,
	OP_RECORD_START = 0x70,
	OP_RECORD_STOP = 0x71,
	OP_RECORD_STATUS = 0x72,
	OP_REPLAY_START = 0x73,
	OP_REPLAY_STATUS = 0x74,
	OP_GET_AUDIT_LOG = 0x76,
	OP_SET_AUDIT_CONFIG = 0x77,
	OP_ASYNC_POLL = 0x80,
	OP_METRICS_SYSTEM = 0xC0,
	OP_METRICS_AGENT = 0xC1,
	OP_METRICS_ALL_AGENTS = 0xC2,
	OP_METRICS_CGROUP = 0xC3,
	OP_LLM_REPORT = 0xF0,
	OP_HELLO = 0xFE,
	OP_EXIT = 0xFF,
};

struct proto_header {
	uint32_t magic;
	uint32_t agent_id;
	uint8_t opcode;
	uint64_t payload_size;
};

/*
 * Decodes a header from the first len bytes of buf.
 * Returns >0 (bytes still missing before the header is complete),
 * 0 (header decoded into *ret, which then says how much payload follows),
 * -EPROTO (bad magic) or -EMSGSIZE (payload_size above max_payload).
 * *ret is filled on 0 and on -EMSGSIZE (so the error reply can carry the
 * opcode), untouched otherwise.
 */
int proto_decode_header(const void *buf, size_t len, uint64_t max_payload,
			struct proto_header *ret);

/* Writes the 17 header bytes for a frame into out. */
void proto_encode_header(void *out, uint32_t agent_id, uint8_t opcode,
			 uint64_t payload_size);

/* "NOOP", "THINK", ...; NULL for a number that is no opcode at all. */
const char *proto_opcode_name(uint8_t opcode);

/* Parses "NOOP", "noop" or "0x00"; returns the opcode or -EINVAL. */
int proto_opcode_from_name(const char *name);
