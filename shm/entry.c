/* SPDX-License-Identifier: MIT */
/*
 * Message reassembly: the fragments of a message (entries flagged
 * SHM_ENTRY_MORE, then the last one) gathered into one buffer, with a
 * limit. The entry header's encoder and decoder are inline in shm.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shm.h"

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
