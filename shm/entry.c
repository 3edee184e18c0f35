/* SPDX-License-Identifier: MIT */
/*
 * Entry headers and message reassembly. An entry header is 16 bytes,
 * little-endian: u64 request id, u32 payload length, u8 opcode, u8 flags,
 * u16 reserved (zero). The decoder works on a private copy of those bytes
 * (the peer may rewrite shared memory at any time) and refuses anything it
 * does not understand, so a version 2 peer cannot be misread as version 1.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shm.h"

void shm_entry_encode(void *out, const struct shm_entry *e)
{
	uint8_t *p = out;
	uint64_t id = htole64(e->id);
	uint32_t len = htole32(e->len);

	memcpy(p, &id, 8);
	memcpy(p + 8, &len, 4);
	p[12] = e->opcode;
	p[13] = e->flags;
	p[14] = 0;
	p[15] = 0;
}

int shm_entry_decode(const void *in, uint32_t max_entry, struct shm_entry *ret)
{
	const uint8_t *p = in;
	uint64_t id;
	uint32_t len;

	memcpy(&id, p, 8);
	memcpy(&len, p + 8, 4);
	len = le32toh(len);
	if (p[13] & ~(SHM_ENTRY_MORE | SHM_ENTRY_PARTIAL))
		return -EPROTO;
	if (p[14] || p[15])
		return -EPROTO;
	if (len > max_entry)
		return -EPROTO;
	*ret = (struct shm_entry){
		.id = le64toh(id),
		.len = len,
		.opcode = p[12],
		.flags = p[13],
	};
	return 0;
}

void shm_msg_init(struct shm_msg *m, size_t max)
{
	*m = (struct shm_msg){ .max = max };
}

void shm_msg_done(struct shm_msg *m)
{
	free(m->buf);
	*m = (struct shm_msg){ .max = m->max };
}

static int msg_append(struct shm_msg *m, const void *payload, uint32_t len)
{
	if (m->overflow || len == 0)
		return 0;
	if (len > m->max - m->len) {
		/* Keep reading fragments so the stream stays in step, but stop
		 * keeping them. */
		m->overflow = true;
		return 0;
	}
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + len)
			cap *= 2;
		if (cap > m->max)
			cap = m->max;
		uint8_t *p = realloc(m->buf, cap);
		if (!p)
			return -ENOMEM;
		m->buf = p;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, payload, len);
	m->len += len;
	return 0;
}

int shm_msg_add(struct shm_msg *m, const struct shm_entry *e,
		const void *payload)
{
	uint8_t flags = e->flags & (uint8_t)~SHM_ENTRY_MORE;

	if (m->open &&
	    (e->id != m->id || e->opcode != m->opcode || flags != m->flags))
		return -EPROTO;
	if (!m->open) {
		m->id = e->id;
		m->opcode = e->opcode;
		m->flags = flags;
		m->len = 0;
		m->overflow = false;
		m->open = true;
	}
	int r = msg_append(m, payload, e->len);
	if (r < 0) {
		m->open = false;
		return r;
	}
	if (e->flags & SHM_ENTRY_MORE)
		return 0;
	m->open = false;
	if (m->overflow) {
		m->len = 0;
		return -EMSGSIZE;
	}
	return 1;
}
