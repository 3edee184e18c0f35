/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the frame decoder: feeds the input as a byte stream and
 * decodes frames the way a connection does, checking the decoder's contract
 * (need-more counts, sizes within the limit, progress on every frame).
 * Built with libFuzzer when -Dfuzzing=true; otherwise a replay main() runs
 * the saved corpus as an ordinary test.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct proto_header h;
		int r = proto_decode_header(data + off, size - off,
					    PROTO_MAX_REQUEST, &h);
		if (r > 0) {
			assert((size_t)r <= PROTO_HEADER_SIZE);
			assert(size - off + (size_t)r == PROTO_HEADER_SIZE);
			break;
		}
		if (r < 0) {
			assert(r == -EPROTO || r == -EMSGSIZE);
			if (r == -EMSGSIZE)
				assert(h.payload_size > PROTO_MAX_REQUEST);
			break;
		}
		assert(h.magic == PROTO_MAGIC);
		assert(h.payload_size <= PROTO_MAX_REQUEST);
		if (size - off - PROTO_HEADER_SIZE < h.payload_size)
			break;
		off += PROTO_HEADER_SIZE + (size_t)h.payload_size;
	}
	return 0;
}
