/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory fast path (docs/shm.md): one sealed memfd per attached
 * connection holding a header page, a submission ring (client -> kernel) and
 * a completion ring (kernel -> client). Each ring is a single-producer,
 * single-consumer byte ring of 2^n bytes with free-running u32 indices (the
 * PipeWire spa_ringbuffer model): entries are a 16-byte header (request id,
 * opcode, flags, payload length) and the payload inline, padded to 16 bytes;
 * a payload may wrap around the end of the data area. Messages larger than
 * one entry are split into fragments flagged SHM_ENTRY_MORE.
 *
 * Both sides keep their own index privately and only publish it; the other
 * side's index is cached and reloaded only when the cache says the ring is
 * full (producer) or empty (consumer). A consumer never trusts what it reads:
 * indices are checked against the ring size, entry headers are copied out
 * before they are decoded, lengths are checked against what is available.
 *
 * Waking: each ring has two futex words, consumer_state and producer_state.
 * A side about to sleep sets its word to 1, issues a full fence and checks
 * the ring again; the other side, after publishing, fences, and when it finds
 * the word at 1 exchanges it to 0 and rings the doorbell (a futex wake, or
 * the kernel's eventfd). While the other side spins (word 0), no doorbell.
 *
 * Library code: no logging, no global state; functions return 0 (or a
 * count) or -errno.
 */
#pragma once

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SHM_MAGIC	0x48534C43u /* "CLSH" little-endian */
#define SHM_VERSION	1u
#define SHM_HEADER_SIZE 4096u
/* Each shared word lives alone in its own 128 bytes (two cache lines:
 * x86's adjacent-line prefetcher pairs them). */
#define SHM_BLOCK	 128u
#define SHM_CTRL_SIZE	 (4u * SHM_BLOCK)
#define SHM_ENTRY_HEADER 16u
#define SHM_ALIGN	 16u
#define SHM_MIN_RING	 4096u
#define SHM_MAX_RING	 (16u << 20)

/* Entry flags. */
#define SHM_ENTRY_MORE 0x01u /* the payload continues in the next entry */
/* Completions only: a partial reply (streamed output); the request's final
 * completion, with the same id and without this flag, follows. Every
 * fragment of a partial reply carries it. */
#define SHM_ENTRY_PARTIAL 0x02u

/* Region header flags. */
#define SHM_HDR_MSGPACK 0x01u /* payloads are msgpack (always, in v1) */

/* kernel_state values. */
#define SHM_KERNEL_ATTACHED 0u
#define SHM_KERNEL_DETACHED 1u
/* client_state values. */
#define SHM_CLIENT_ATTACHED 0u
#define SHM_CLIENT_CLOSED   1u

/* Offsets inside a ring's control block. */
#define SHM_RING_TAIL	  0u
#define SHM_RING_HEAD	  (1u * SHM_BLOCK)
#define SHM_RING_CONSUMER (2u * SHM_BLOCK)
#define SHM_RING_PRODUCER (3u * SHM_BLOCK)
#define SHM_RING_DATA	  SHM_CTRL_SIZE

#define SHM_REASON_SIZE 120u

/*
 * The region header at offset 0, little-endian. The kernel writes the
 * geometry once before passing the memfd; kernel_state, detach_error and
 * detach_reason when it detaches; the client writes only client_state.
 */
struct shm_header {
	uint32_t magic;	      /* 0 */
	uint32_t version;     /* 4 */
	uint32_t header_size; /* 8 */
	uint32_t flags;	      /* 12 */
	uint64_t region_size; /* 16 */
	uint32_t sq_offset;   /* 24: control block of the submission ring */
	uint32_t sq_size;     /* 28: its data bytes, a power of two */
	uint32_t cq_offset;   /* 32 */
	uint32_t cq_size;     /* 36 */
	uint32_t max_entry;   /* 40: largest payload of one entry */
	uint32_t caller_id;   /* 44: the id socket replies carry */
	uint32_t max_request; /* 48: largest reassembled request */
	uint32_t spin_us;     /* 52: how long the kernel polls when idle */
	uint8_t pad0[SHM_BLOCK - 56];
	uint32_t kernel_state; /* 128 */
	int32_t detach_error;  /* 132: positive errno, 0 = orderly */
	char detach_reason[SHM_REASON_SIZE]; /* 136, NUL-terminated */
	uint32_t client_state;		     /* 256 */
};

/* The geometry of a region, as the kernel chose it (kept privately by the
 * kernel; the client reads and checks it from the header). */
struct shm_geometry {
	uint64_t region_size;
	uint32_t sq_offset, sq_size;
	uint32_t cq_offset, cq_size;
	uint32_t max_entry;
};

/* A mapped region. fd is -EBADF once it has been handed on. */
struct shm_region {
	void *base;
	size_t size;
	int fd;
	struct shm_header *hdr;
	struct shm_geometry geo;
};

/* One side's view of one ring. Pointers point into the shared mapping; the
 * rest is private to this side. */
struct shm_ring {
	uint32_t *tail;
	uint32_t *head;
	uint32_t *consumer_state;
	uint32_t *producer_state;
	uint8_t *data;
	uint32_t size, mask, max_entry;
	/* This side's own index: the producer's tail or the consumer's head. */
	uint32_t pos;
	/* The last value stored to the shared own index. */
	uint32_t published;
	/* The other side's index as last loaded. */
	uint32_t cached;
	/* How often the other side's index was loaded (tests, statistics). */
	uint64_t remote_loads;
};

/* A decoded entry header. */
struct shm_entry {
	uint64_t id;
	uint32_t len;
	uint8_t opcode;
	uint8_t flags;
};

/* --- geometry and regions (region.c) --- */

/* True for a power of two within [SHM_MIN_RING, SHM_MAX_RING]. */
bool shm_ring_size_valid(uint64_t size);

/* Lays out a region for the given ring sizes (both valid), with
 * max_entry = size / 4 for the smaller ring. -EINVAL for bad sizes. */
int shm_geometry_init(struct shm_geometry *g, uint32_t sq_size,
		      uint32_t cq_size);

/*
 * Kernel side: creates a memfd (CLOEXEC, sealable), sizes and maps it,
 * writes the header (caller_id, max_request, spin_us from the arguments)
 * and seals it against shrinking and growing, so the peer can never make
 * the kernel's mapping fault. On success the region owns fd and mapping.
 */
int shm_region_create(struct shm_region *r, const struct shm_geometry *g,
		      uint32_t caller_id, uint32_t max_request,
		      uint32_t spin_us);

/*
 * Client side: maps a memfd received from the kernel and checks its header
 * (magic, version, sizes, offsets within the file, seals). Takes ownership
 * of fd in every case. -EPROTO for a header that does not describe a valid
 * region, -EPROTONOSUPPORT for another version.
 */
int shm_region_map(struct shm_region *r, int fd);

/* Unmaps and closes what r holds; accepts a zeroed or half-built region. */
void shm_region_done(struct shm_region *r);

/* Binds the rings of a mapped region: the kernel consumes the SQ and
 * produces on the CQ; the client the other way round. */
void shm_region_rings(struct shm_region *r, bool kernel_side,
		      struct shm_ring *sq, struct shm_ring *cq);

/* --- entries (entry.c) --- */

/* Ring bytes an entry with len payload bytes takes. */
static inline uint32_t shm_entry_space(uint32_t len)
{
	return SHM_ENTRY_HEADER + ((len + SHM_ALIGN - 1) & ~(SHM_ALIGN - 1));
}

/*
 * The header as two little-endian 64-bit words: the id, then len | opcode
 * << 32 | flags << 40 (the reserved top 16 bits zero). Inline, like the
 * decoder: both are on the path of every entry, where a call and the byte
 * shuffling cost as much as the copy they frame.
 */
static inline void shm_entry_words(const struct shm_entry *e, uint64_t w[2])
{
	w[0] = htole64(e->id);
	w[1] = htole64((uint64_t)e->len | (uint64_t)e->opcode << 32 |
		       (uint64_t)e->flags << 40);
}

/* Writes the 16 header bytes of e. */
static inline void shm_entry_encode(void *out, const struct shm_entry *e)
{
	uint64_t w[2];

	shm_entry_words(e, w);
	memcpy(out, w, sizeof(w));
}

/*
 * Decodes 16 header bytes (already copied out of shared memory). 0, or
 * -EPROTO for unknown flags, non-zero reserved bytes, or a length above
 * max_entry.
 */
static inline int shm_entry_decode(const void *in, uint32_t max_entry,
				   struct shm_entry *ret)
{
	uint64_t w[2];

	memcpy(w, in, sizeof(w));
	uint64_t id = le64toh(w[0]), rest = le64toh(w[1]);
	uint32_t len = (uint32_t)rest;
	uint8_t flags = (uint8_t)(rest >> 40);
	/* Unknown flags and non-zero reserved bytes: a version 2 peer must
	 * not be misread as version 1. */
	if ((flags & ~(SHM_ENTRY_MORE | SHM_ENTRY_PARTIAL)) || (rest >> 48) ||
	    len > max_entry)
		return -EPROTO;
	*ret = (struct shm_entry){
		.id = id,
		.len = len,
		.opcode = (uint8_t)(rest >> 32),
		.flags = flags,
	};
	return 0;
}

/*
 * A message reassembled from its fragments. Fragments of one message are
 * consecutive entries of the same id and opcode, all but the last flagged
 * SHM_ENTRY_MORE.
 */
struct shm_msg {
	uint8_t *buf;
	size_t len, cap;
	size_t max;
	uint64_t id;
	uint8_t opcode;
	/* The first fragment's flags without SHM_ENTRY_MORE (the others
	 * must agree). */
	uint8_t flags;
	/* A fragment has been taken and the last one has not. */
	bool open;
	/* The message outgrew max: its fragments are counted, not kept. */
	bool overflow;
};

/* max: the largest message kept (beyond it, -EMSGSIZE at the end). */
void shm_msg_init(struct shm_msg *m, size_t max);
void shm_msg_done(struct shm_msg *m);

/*
 * Adds a fragment. Returns 1 when the message is complete (its bytes are in
 * m->buf[0..len), valid until the next call), 0 when more fragments are
 * expected, -EMSGSIZE when a complete message was larger than max (the
 * message is dropped, the stream stays in step), -EPROTO for a fragment of
 * another id or opcode while one is open, -ENOMEM.
 */
int shm_msg_add(struct shm_msg *m, const struct shm_entry *e,
		const void *payload);

/* --- rings (ring.c) --- */

/*
 * Binds r to the control block at ctrl with size data bytes. The producer
 * starts from the shared tail, the consumer from the shared head (both 0 in
 * a fresh region); the other side's index is first loaded (and checked)
 * when it is needed.
 */
void shm_ring_bind(struct shm_ring *r, void *ctrl, uint32_t size,
		   uint32_t max_entry, bool producer);

/* Producer: free bytes, reloading the consumer's head only when the cached
 * value shows fewer than want. -EPROTO when that head is impossible (more
 * than size behind the tail, or misaligned). */
int64_t shm_ring_free(struct shm_ring *r, uint32_t want);

/*
 * Producer: writes one entry (not yet visible: see shm_ring_publish).
 * -EAGAIN when it does not fit now, -EMSGSIZE when e->len is above
 * max_entry, -EPROTO as for shm_ring_free. e->len bytes of payload.
 */
int shm_ring_push(struct shm_ring *r, const struct shm_entry *e,
		  const void *payload);

/*
 * Producer: writes a message from *off on as fragments of at most
 * max_entry bytes while there is room. Returns 0 once the whole message is
 * written (one entry even for len 0), -EAGAIN when the ring filled first
 * (*off says how far it got; call again with the same *off), -EPROTO.
 * *off must be 0 for a new message.
 */
int shm_ring_write_msg_flags(struct shm_ring *r, uint64_t id, uint8_t opcode,
			     uint8_t flags, const void *payload, size_t len,
			     size_t *off);
/* The same with no flags. */
int shm_ring_write_msg(struct shm_ring *r, uint64_t id, uint8_t opcode,
		       const void *payload, size_t len, size_t *off);

/* Producer: makes written entries visible (store-release of the tail). */
void shm_ring_publish(struct shm_ring *r);

/*
 * Consumer: copies the next entry's header out and validates it against
 * the ring: 0 with *ret filled, -EAGAIN when the ring is empty, -EPROTO
 * when the producer's tail or the entry is impossible (the consumer must
 * give the ring up then). Does not consume.
 */
int shm_ring_peek(struct shm_ring *r, struct shm_entry *ret);

/* Consumer: copies the payload of the entry peek returned (e->len bytes)
 * into dst (may be NULL to skip it) and consumes the entry. */
void shm_ring_take(struct shm_ring *r, const struct shm_entry *e, void *dst);

/* Consumer: gives consumed space back (store-release of the head). */
void shm_ring_release(struct shm_ring *r);

/* Consumer: true when nothing is readable (reloads the tail if needed). A
 * broken tail counts as readable, so the caller peeks and sees -EPROTO. */
bool shm_ring_empty(struct shm_ring *r);

/* Bytes written and not yet consumed, as the consumer sees them. */
uint32_t shm_ring_used(struct shm_ring *r);

/* --- waking (wait.c) --- */

/*
 * Producer, after shm_ring_publish: true when the consumer sleeps and must
 * be woken; the flag is cleared, so each sleep costs one doorbell.
 */
bool shm_ring_consumer_wake_needed(struct shm_ring *r);
/* Consumer, after shm_ring_release: true when the producer waits for room. */
bool shm_ring_producer_wake_needed(struct shm_ring *r);

/* Consumer about to sleep: announces it; true if it may sleep (the ring is
 * still empty after the fence), false when data came (announcement taken
 * back). */
bool shm_ring_consumer_prepare_sleep(struct shm_ring *r);
void shm_ring_consumer_awake(struct shm_ring *r);
/* Producer about to wait for want bytes of room: likewise. */
bool shm_ring_producer_prepare_sleep(struct shm_ring *r, uint32_t want);
void shm_ring_producer_awake(struct shm_ring *r);

/* Shared (not FUTEX_PRIVATE) futex on a word of the mapping. timeout_ns < 0
 * waits forever. 0 when woken or the word is no longer val, -ETIMEDOUT,
 * -EINTR. */
int shm_futex_wait(uint32_t *word, uint32_t val, int64_t timeout_ns);
/* Wakes every waiter on word. */
int shm_futex_wake(uint32_t *word);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t shm_now_ns(void);
/* A pause for spin loops. */
void shm_cpu_relax(void);
