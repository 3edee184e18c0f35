/* SPDX-License-Identifier: MIT */
/*
 * The single-producer, single-consumer byte ring. Indices are free-running
 * u32 byte counts (position = index & mask), so "used" is tail - head in
 * wrapping arithmetic and the full and empty states need no spare slot.
 * Entries start on 16-byte boundaries, so a header never wraps; a payload
 * may, and is copied in two pieces.
 *
 * Ordering: the producer writes the entry bytes, then stores the tail with
 * release; the consumer loads the tail with acquire before reading the
 * bytes. The consumer copies a payload out, then stores the head with
 * release; the producer loads it with acquire before reusing the space.
 * Each side loads the other's index only when its cached copy says it must
 * (ring full for the producer, empty for the consumer), and checks it: the
 * other side may be hostile.
 */
#include <errno.h>
#include <string.h>

#include "shm.h"

#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

void shm_ring_bind(struct shm_ring *r, void *ctrl, uint32_t size,
		   uint32_t max_entry, bool producer)
{
	uint8_t *c = ctrl;

	*r = (struct shm_ring){
		.tail = (uint32_t *)(c + SHM_RING_TAIL),
		.head = (uint32_t *)(c + SHM_RING_HEAD),
		.consumer_state = (uint32_t *)(c + SHM_RING_CONSUMER),
		.producer_state = (uint32_t *)(c + SHM_RING_PRODUCER),
		.data = c + SHM_RING_DATA,
		.size = size,
		.mask = size - 1,
		.max_entry = max_entry,
	};
	/* The other side's index is not trusted even here: the cache starts
	 * at "ring full" (producer) or "ring empty" (consumer), so the first
	 * real look at it goes through the checks. */
	if (producer) {
		r->pos = r->published = LOAD_ACQ(r->tail);
		r->cached = r->pos - size;
	} else {
		r->pos = r->published = LOAD_ACQ(r->head);
		r->cached = r->pos;
	}
}

int64_t shm_ring_free(struct shm_ring *r, uint32_t want)
{
	uint32_t used = r->pos - r->cached;

	if (r->size - used >= want)
		return r->size - used;
	uint32_t head = LOAD_ACQ(r->head);
	r->remote_loads++;
	used = r->pos - head;
	if (used > r->size || (head & (SHM_ALIGN - 1)))
		return -EPROTO;
	r->cached = head;
	return r->size - used;
}

/* Most payloads are small (NOOP's few bytes, a short msgpack map), and for
 * them memcpy's call and size dispatch cost more than the copy: up to 32
 * bytes move in two fixed-size, possibly overlapping pieces, which the
 * compiler inlines. Each source byte is still read once per piece. */
#define SMALL_COPY 32u

static inline void copy_bytes(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	if (len > SMALL_COPY) {
		memcpy(dst, src, len);
	} else if (len >= 16) {
		memcpy(dst, src, 16);
		memcpy(dst + len - 16, src + len - 16, 16);
	} else if (len >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + len - 8, src + len - 8, 8);
	} else if (len >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + len - 4, src + len - 4, 4);
	} else {
		for (uint32_t i = 0; i < len; i++)
			dst[i] = src[i];
	}
}

/* Copies len bytes to ring offset off (masked), wrapping at the end. */
static void copy_in(struct shm_ring *r, uint32_t off, const void *src,
		    uint32_t len)
{
	uint32_t at = off & r->mask;
	uint32_t first = r->size - at;

	if (first >= len) {
		copy_bytes(r->data + at, src, len);
		return;
	}
	memcpy(r->data + at, src, first);
	memcpy(r->data, (const uint8_t *)src + first, len - first);
}

static void copy_out(const struct shm_ring *r, uint32_t off, void *dst,
		     uint32_t len)
{
	uint32_t at = off & r->mask;
	uint32_t first = r->size - at;

	if (first >= len) {
		copy_bytes(dst, r->data + at, len);
		return;
	}
	memcpy(dst, r->data + at, first);
	memcpy((uint8_t *)dst + first, r->data, len - first);
}

int shm_ring_push(struct shm_ring *r, const struct shm_entry *e,
		  const void *payload)
{
	if (e->len > r->max_entry)
		return -EMSGSIZE;
	uint32_t need = shm_entry_space(e->len);
	int64_t room = shm_ring_free(r, need);
	if (room < 0)
		return (int)room;
	if (room < need)
		return -EAGAIN;

	/* A header never wraps (entries start at multiples of 16 in a data
	 * area of a power of two >= 4096): written in place. */
	shm_entry_encode(r->data + (r->pos & r->mask), e);
	if (e->len)
		copy_in(r, r->pos + SHM_ENTRY_HEADER, payload, e->len);
	r->pos += need;
	return 0;
}

int shm_ring_write_msg(struct shm_ring *r, uint64_t id, uint8_t opcode,
		       const void *payload, size_t len, size_t *off)
{
	return shm_ring_write_msg_flags(r, id, opcode, 0, payload, len, off);
}

int shm_ring_write_msg_flags(struct shm_ring *r, uint64_t id, uint8_t opcode,
			     uint8_t flags, const void *payload, size_t len,
			     size_t *off)
{
	const uint8_t *p = payload;

	do {
		size_t left = len - *off;
		uint32_t chunk =
			left > r->max_entry ? r->max_entry : (uint32_t)left;
		struct shm_entry e = {
			.id = id,
			.len = chunk,
			.opcode = opcode,
			.flags = (uint8_t)(flags |
					   (left > chunk ? SHM_ENTRY_MORE : 0)),
		};
		int ret = shm_ring_push(r, &e, p + *off);
		if (ret < 0)
			return ret;
		*off += chunk;
	} while (*off < len);
	return 0;
}

void shm_ring_publish(struct shm_ring *r)
{
	if (r->published == r->pos)
		return;
	STORE_REL(r->tail, r->pos);
	r->published = r->pos;
}

/* Bytes readable per the cached tail; reloads it when that shows none.
 * -EPROTO when the producer's tail is impossible. */
static int64_t readable(struct shm_ring *r)
{
	uint32_t avail = r->cached - r->pos;

	if (avail)
		return avail;
	uint32_t tail = LOAD_ACQ(r->tail);
	r->remote_loads++;
	avail = tail - r->pos;
	if (avail > r->size || (tail & (SHM_ALIGN - 1)))
		return -EPROTO;
	r->cached = tail;
	/* Empty: the caller is likely spinning. Touching the line the next
	 * entry lands in (our own index, masked) lets its transfer overlap
	 * the tail's instead of following it; nothing is read from it here. */
	if (avail == 0)
		__builtin_prefetch(r->data + (r->pos & r->mask), 0, 3);
	return avail;
}

int shm_ring_peek(struct shm_ring *r, struct shm_entry *ret)
{
	int64_t avail = readable(r);
	if (avail < 0)
		return (int)avail;
	if (avail == 0)
		return -EAGAIN;
	if (avail < SHM_ENTRY_HEADER)
		return -EPROTO;

	/* The header is copied before it is looked at: the producer may
	 * change the shared bytes while we decide. Two single loads (entries
	 * start at multiples of 16, so they are aligned and never wrap), so
	 * the compiler cannot read the shared bytes again later either. */
	const uint64_t *shared = (const void *)(r->data + (r->pos & r->mask));
	uint64_t hdr[2] = { __atomic_load_n(&shared[0], __ATOMIC_RELAXED),
			    __atomic_load_n(&shared[1], __ATOMIC_RELAXED) };
	struct shm_entry e;
	int ret2 = shm_entry_decode(hdr, r->max_entry, &e);
	if (ret2 < 0)
		return ret2;
	if (shm_entry_space(e.len) > avail)
		return -EPROTO;
	*ret = e;
	return 0;
}

void shm_ring_take(struct shm_ring *r, const struct shm_entry *e, void *dst)
{
	if (dst && e->len)
		copy_out(r, r->pos + SHM_ENTRY_HEADER, dst, e->len);
	r->pos += shm_entry_space(e->len);
}

void shm_ring_release(struct shm_ring *r)
{
	if (r->published == r->pos)
		return;
	STORE_REL(r->head, r->pos);
	r->published = r->pos;
}

bool shm_ring_empty(struct shm_ring *r)
{
	return readable(r) == 0;
}

uint32_t shm_ring_used(struct shm_ring *r)
{
	int64_t avail = readable(r);
	return avail < 0 ? 0 : (uint32_t)avail;
}
