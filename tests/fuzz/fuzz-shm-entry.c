/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the kernel's side of a submission ring: the input is a
 * hostile peer's view of shared memory (8 bytes of indices, then the bytes
 * of a 4 KiB data area). The consumer peeks, copies out, decodes and
 * reassembles entries the way cloved does, and checks the contract: it
 * never reads past what the tail allows, never accepts an entry above
 * max_entry, gives up with -EPROTO on anything impossible, and keeps
 * reassembled messages within their limit. Built with libFuzzer when
 * -Dfuzzing=true; otherwise replay.c runs the saved corpus.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shm.h"

#define RING	  4096u
#define MAX_ENTRY 1024u
#define MAX_MSG	  3000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[SHM_CTRL_SIZE + RING] __attribute__((aligned(64)));
	static uint8_t frag[MAX_ENTRY];
	uint32_t head, tail;

	if (size < 8)
		return 0;
	memset(mem, 0, sizeof(mem));
	memcpy(&head, data, 4);
	memcpy(&tail, data + 4, 4);
	size_t n = size - 8 < RING ? size - 8 : RING;
	memcpy(mem + SHM_RING_DATA, data + 8, n);

	/* The consumer's own head is private and sane; the tail and every
	 * byte of data come from the peer. */
	head &= ~(SHM_ALIGN - 1);
	memcpy(mem + SHM_RING_HEAD, &head, 4);
	memcpy(mem + SHM_RING_TAIL, &tail, 4);
	struct shm_ring r;
	shm_ring_bind(&r, mem, RING, MAX_ENTRY, false);
	struct shm_msg m;
	shm_msg_init(&m, MAX_MSG);

	uint32_t start = r.pos;
	for (unsigned i = 0; i < RING / SHM_ENTRY_HEADER + 1; i++) {
		struct shm_entry e;
		int ret = shm_ring_peek(&r, &e);
		if (ret == -EAGAIN)
			break;
		if (ret < 0) {
			assert(ret == -EPROTO);
			break;
		}
		assert(e.len <= MAX_ENTRY);
		assert(!(e.flags & ~SHM_ENTRY_MORE));
		assert(shm_entry_space(e.len) <= tail - r.pos);
		/* The peer rewrites the entry after it was peeked: what was
		 * decoded stays what is used. */
		mem[SHM_RING_DATA + ((r.pos + 13) & (RING - 1))] ^= 0xFF;
		shm_ring_take(&r, &e, frag);
		ret = shm_msg_add(&m, &e, frag);
		assert(ret == 0 || ret == 1 || ret == -EMSGSIZE ||
		       ret == -EPROTO);
		if (ret == 1)
			assert(m.len <= MAX_MSG);
		if (ret == -EPROTO)
			break;
	}
	assert(r.pos - start <= RING);
	shm_ring_release(&r);
	shm_msg_done(&m);
	return 0;
}
