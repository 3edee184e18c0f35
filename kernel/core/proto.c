/* SPDX-License-Identifier: MIT */
/*
 * Frame header codec and the opcode name table. Decoding is byte-wise so it
 * does not depend on host endianness or alignment of the receive buffer.
 */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

int proto_decode_header(const void *buf, size_t len, uint64_t max_payload,
			struct proto_header *ret)
{
	const uint8_t *p = buf;

	/* Reject a wrong magic as soon as its first bytes arrive, so a client
	 * speaking another protocol gets its error without having to send 17
	 * bytes first. */
	static const uint8_t magic[4] = { 0x54, 0x4E, 0x47, 0x41 };
	for (size_t i = 0; i < MIN(len, sizeof(magic)); i++)
		if (p[i] != magic[i])
			return -EPROTO;
	if (len < PROTO_HEADER_SIZE)
		return (int)(PROTO_HEADER_SIZE - len);

	struct proto_header h = {
		.magic = get_le32(p),
		.agent_id = get_le32(p + 4),
		.opcode = p[8],
		.payload_size = get_le64(p + 9),
	};
	*ret = h;
	if (h.payload_size > max_payload)
		return -EMSGSIZE;
	return 0;
}

void proto_encode_header(void *out, uint32_t agent_id, uint8_t opcode,
			 uint64_t payload_size)
{
	uint8_t *p = out;
	put_le32(p, PROTO_MAGIC);
	put_le32(p + 4, agent_id);
	p[8] = opcode;
	put_le64(p + 9, payload_size);
}

static const char *const opcode_names[256] = {
	[OP_NOOP] = "NOOP",
	[OP_THINK] = "THINK",
	[OP_EXEC] = "EXEC",
	[OP_READ] = "READ",
	[OP_WRITE] = "WRITE",
	[OP_SPAWN] = "SPAWN",
	[OP_KILL] = "KILL",
	[OP_LIST] = "LIST",
	[OP_PAUSE] = "PAUSE",
	[OP_RESUME] = "RESUME",
	[OP_SEND] = "SEND",
	[OP_RECV] = "RECV",
	[OP_BROADCAST] = "BROADCAST",
	[OP_REGISTER] = "REGISTER",
	[OP_STORE] = "STORE",
	[OP_FETCH] = "FETCH",
	[OP_DELETE] = "DELETE",
	[OP_KEYS] = "KEYS",
	[OP_GET_PERMS] = "GET_PERMS",
	[OP_SET_PERMS] = "SET_PERMS",
	[OP_HTTP] = "HTTP",
	[OP_SUBSCRIBE] = "SUBSCRIBE",
	[OP_UNSUBSCRIBE] = "UNSUBSCRIBE",
	[OP_POLL_EVENTS] = "POLL_EVENTS",
	[OP_EMIT] = "EMIT",
	[OP_RECORD_START] = "RECORD_START",
	[OP_RECORD_STOP] = "RECORD_STOP",
	[OP_RECORD_STATUS] = "RECORD_STATUS",
	[OP_REPLAY_START] = "REPLAY_START",
	[OP_REPLAY_STATUS] = "REPLAY_STATUS",
	[OP_GET_AUDIT_LOG] = "GET_AUDIT_LOG",
	[OP_SET_AUDIT_CONFIG] = "SET_AUDIT_CONFIG",
	[OP_ASYNC_POLL] = "ASYNC_POLL",
	[OP_METRICS_SYSTEM] = "METRICS_SYSTEM",
	[OP_METRICS_AGENT] = "METRICS_AGENT",
	[OP_METRICS_ALL_AGENTS] = "METRICS_ALL_AGENTS",
	[OP_METRICS_CGROUP] = "METRICS_CGROUP",
	[OP_LLM_REPORT] = "LLM_REPORT",
	[OP_HELLO] = "HELLO",
	[OP_EXIT] = "EXIT",
};

const char *proto_opcode_name(uint8_t opcode)
{
	return opcode_names[opcode];
}

int proto_opcode_from_name(const char *name)
{
	if (!name || !*name)
		return -EINVAL;
	if (strncasecmp(name, "0x", 2) == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(name + 2, &end, 16);
		if (errno || *end || end == name + 2 || v > 0xff)
			return -EINVAL;
		return (int)v;
	}
	for (unsigned i = 0; i < ELEMENTSOF(opcode_names); i++)
		if (opcode_names[i] && strcasecmp(opcode_names[i], name) == 0)
			return (int)i;
	return -EINVAL;
}
