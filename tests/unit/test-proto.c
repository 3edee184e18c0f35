/* SPDX-License-Identifier: MIT */
/*
 * Frame header decoder: complete, partial and byte-by-byte headers, bad
 * magic (detected from the first byte), oversize, zero-length, and the
 * opcode name table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static void encode_decode_roundtrip(void **state)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_header h;

	proto_encode_header(buf, 42, OP_SPAWN, 1234);
	/* Little-endian, packed: the bytes the original SDK's '<IIBQ' makes. */
	static const uint8_t want[PROTO_HEADER_SIZE] = {
		0x54, 0x4E, 0x47, 0x41, 42, 0, 0, 0, 0x10,
		0xD2, 0x04, 0, 0, 0, 0, 0, 0,
	};
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(proto_decode_header(buf, sizeof(buf), PROTO_MAX_REQUEST, &h), 0);
	assert_int_equal(h.magic, PROTO_MAGIC);
	assert_int_equal(h.agent_id, 42);
	assert_int_equal(h.opcode, OP_SPAWN);
	assert_int_equal(h.payload_size, 1234);
}

static void partial_header_needs_more(void **state)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_header h = { .opcode = 0x77 };

	proto_encode_header(buf, 1, OP_NOOP, 5);
	for (size_t len = 0; len < PROTO_HEADER_SIZE; len++) {
		int r = proto_decode_header(buf, len, PROTO_MAX_REQUEST, &h);
		assert_int_equal(r, (int)(PROTO_HEADER_SIZE - len));
		/* Untouched until the header is complete. */
		assert_int_equal(h.opcode, 0x77);
	}
	assert_int_equal(proto_decode_header(buf, PROTO_HEADER_SIZE, PROTO_MAX_REQUEST, &h), 0);
}

static void bad_magic_detected_early(void **state)
{
	struct proto_header h;
	const uint8_t http[] = "GET / HTTP/1.1\r\n\r\n";

	/* One wrong byte is enough to answer. */
	assert_int_equal(proto_decode_header(http, 1, PROTO_MAX_REQUEST, &h), -EPROTO);
	assert_int_equal(proto_decode_header(http, sizeof(http), PROTO_MAX_REQUEST, &h), -EPROTO);

	uint8_t buf[PROTO_HEADER_SIZE];
	proto_encode_header(buf, 1, OP_NOOP, 0);
	buf[3] ^= 0xff;
	assert_int_equal(proto_decode_header(buf, 3, PROTO_MAX_REQUEST, &h), 14);
	assert_int_equal(proto_decode_header(buf, 4, PROTO_MAX_REQUEST, &h), -EPROTO);
}

static void oversize_rejected_with_opcode(void **state)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_header h;

	proto_encode_header(buf, 1, OP_WRITE, (uint64_t)1 << 40);
	assert_int_equal(proto_decode_header(buf, sizeof(buf), PROTO_MAX_REQUEST, &h), -EMSGSIZE);
	assert_int_equal(h.opcode, OP_WRITE);

	proto_encode_header(buf, 1, OP_WRITE, PROTO_MAX_REQUEST + 1);
	assert_int_equal(proto_decode_header(buf, sizeof(buf), PROTO_MAX_REQUEST, &h), -EMSGSIZE);
	proto_encode_header(buf, 1, OP_WRITE, PROTO_MAX_REQUEST);
	assert_int_equal(proto_decode_header(buf, sizeof(buf), PROTO_MAX_REQUEST, &h), 0);
}

static void zero_length_payload(void **state)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_header h;

	proto_encode_header(buf, 9, OP_HELLO, 0);
	assert_int_equal(proto_decode_header(buf, sizeof(buf), PROTO_MAX_REQUEST, &h), 0);
	assert_int_equal(h.payload_size, 0);
	assert_int_equal(h.opcode, OP_HELLO);
}

static void opcode_names(void **state)
{
	assert_string_equal(proto_opcode_name(OP_EXEC), "EXEC");
	assert_string_equal(proto_opcode_name(OP_HELLO), "HELLO");
	assert_null(proto_opcode_name(0x42));
	assert_int_equal(proto_opcode_from_name("spawn"), OP_SPAWN);
	assert_int_equal(proto_opcode_from_name("0xff"), OP_EXIT);
	assert_int_equal(proto_opcode_from_name("0x100"), -EINVAL);
	assert_int_equal(proto_opcode_from_name("nope"), -EINVAL);
	assert_int_equal(proto_opcode_from_name(""), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encode_decode_roundtrip),
		cmocka_unit_test(partial_header_needs_more),
		cmocka_unit_test(bad_magic_detected_early),
		cmocka_unit_test(oversize_rejected_with_opcode),
		cmocka_unit_test(zero_length_payload),
		cmocka_unit_test(opcode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
