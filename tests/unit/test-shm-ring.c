/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the shared-memory ring library (shm/): empty and full rings,
 * wrap-around of payloads, every small payload length, index caching,
 * out-of-order completion matched by request id, fragments, the wake protocol,
 * hostile indices and headers, the sealed region, and a two-process stress test
 * in which every message must arrive exactly once and in order on each ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* A private ring pair for single-process tests: one control block and
 * data area in ordinary memory, bound once as producer and once as
 * consumer. */
struct pair {
	uint8_t *mem;
	struct shm_ring prod, cons;
};

static void pair_init(struct pair *p, uint32_t size, uint32_t max_entry)
{
	p->mem = aligned_alloc(64, SHM_CTRL_SIZE + size);
	assert_non_null(p->mem);
	memset(p->mem, 0, SHM_CTRL_SIZE + size);
	shm_ring_bind(&p->prod, p->mem, size, max_entry, true);
	shm_ring_bind(&p->cons, p->mem, size, max_entry, false);
}

static void pair_done(struct pair *p)
{
	free(p->mem);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static void check_fill(const uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(seed * 131 + i * 7 + (i >> 8)))
			fail_msg("byte %zu of message %llu differs", i,
				 (unsigned long long)seed);
}

static int push(struct pair *p, uint64_t id, uint8_t op, const void *data,
		uint32_t len)
{
	struct shm_entry e = { .id = id, .len = len, .opcode = op };
	return shm_ring_push(&p->prod, &e, data);
}

static void test_empty_then_one(void **state)
{
	struct pair p;
	struct shm_entry e;
	uint8_t out[16];

	pair_init(&p, 4096, 1024);
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EAGAIN);
	assert_true(shm_ring_empty(&p.cons));
	assert_int_equal(push(&p, 42, 0x00, "hello, ring", 11), 0);
	/* Not visible before it is published. */
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EAGAIN);
	shm_ring_publish(&p.prod);
	assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
	assert_int_equal(e.id, 42);
	assert_int_equal(e.len, 11);
	assert_int_equal(e.flags, 0);
	shm_ring_take(&p.cons, &e, out);
	assert_memory_equal(out, "hello, ring", 11);
	shm_ring_release(&p.cons);
	assert_true(shm_ring_empty(&p.cons));
	assert_int_equal(*p.cons.head, 32);
	pair_done(&p);
}

static void test_full_and_backpressure(void **state)
{
	struct pair p;
	struct shm_entry e;
	uint8_t payload[16] = "0123456789abcdef";
	unsigned n = 0;

	pair_init(&p, 4096, 1024);
	while (push(&p, n, 1, payload, sizeof(payload)) == 0)
		n++;
	/* 32 bytes per entry: exactly the ring, no slot wasted. */
	assert_int_equal(n, 4096 / 32);
	assert_int_equal(push(&p, n, 1, payload, 0), -EAGAIN);
	shm_ring_publish(&p.prod);
	assert_int_equal(shm_ring_used(&p.cons), 4096);

	/* Room comes back only once the consumer releases. */
	assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
	shm_ring_take(&p.cons, &e, NULL);
	assert_int_equal(push(&p, n, 1, payload, sizeof(payload)), -EAGAIN);
	shm_ring_release(&p.cons);
	assert_int_equal(push(&p, n, 1, payload, sizeof(payload)), 0);
	assert_int_equal(push(&p, n, 1, payload, 0), -EAGAIN);
	pair_done(&p);
}

static void test_wrap_around(void **state)
{
	struct pair p;
	uint8_t in[1000], out[1000];
	uint64_t sent = 0, got = 0;

	pair_init(&p, 4096, 1000);
	/* Odd sizes walk the entries across the end of the data area many
	 * times, in every alignment. */
	while (got < 5000) {
		uint32_t len = (uint32_t)((sent * 97) % 1000);
		fill(in, len, sent);
		if (push(&p, sent, 2, in, len) == 0) {
			sent++;
			shm_ring_publish(&p.prod);
			continue;
		}
		struct shm_entry e;
		while (shm_ring_peek(&p.cons, &e) == 0) {
			assert_int_equal(e.id, got);
			assert_int_equal(e.len, (got * 97) % 1000);
			shm_ring_take(&p.cons, &e, out);
			check_fill(out, e.len, got);
			got++;
		}
		shm_ring_release(&p.cons);
	}
	/* The free-running indices went round the ring many times. */
	assert_true(p.prod.pos > 50 * 4096u);
	pair_done(&p);
}

static void test_small_payloads(void **state)
{
	struct pair p;
	uint8_t in[64], out[64 + 8];

	pair_init(&p, 4096, 1000);
	/* Every length up to past the inline-copy limit, at every entry
	 * offset of the data area (some wrapping at its end): the bytes
	 * arrive exactly, and nothing is written past len in the reader's
	 * buffer. */
	for (uint32_t round = 0; round < 300; round++) {
		for (uint32_t len = 0; len <= 48; len++) {
			uint64_t id = round * 100 + len;
			fill(in, len, id);
			assert_int_equal(push(&p, id, 0, in, len), 0);
			shm_ring_publish(&p.prod);
			struct shm_entry e;
			assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
			assert_int_equal(e.id, id);
			assert_int_equal(e.len, len);
			memset(out, 0xa5, sizeof(out));
			shm_ring_take(&p.cons, &e, out);
			shm_ring_release(&p.cons);
			check_fill(out, len, id);
			for (uint32_t i = len; i < sizeof(out); i++)
				assert_int_equal(out[i], 0xa5);
		}
		/* Shift the next round by one entry slot. */
		assert_int_equal(push(&p, 0, 0, NULL, 0), 0);
		shm_ring_publish(&p.prod);
		struct shm_entry e;
		assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
		shm_ring_take(&p.cons, &e, NULL);
		shm_ring_release(&p.cons);
	}
	pair_done(&p);
}

static void test_index_wraps_past_u32(void **state)
{
	struct pair p;
	struct shm_entry e;
	uint8_t out[64];

	pair_init(&p, 4096, 1024);
	/* Start both sides just below 2^32: the indices overflow and the
	 * wrapping differences still add up. */
	uint32_t start = UINT32_MAX - 255;
	*p.prod.tail = *p.prod.head = start;
	shm_ring_bind(&p.prod, p.mem, 4096, 1024, true);
	shm_ring_bind(&p.cons, p.mem, 4096, 1024, false);
	for (uint64_t i = 0; i < 1000; i++) {
		assert_int_equal(
			push(&p, i, 3, "abcdefghijklmnopqrstuvwxyz", 26), 0);
		shm_ring_publish(&p.prod);
		assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
		assert_int_equal(e.id, i);
		shm_ring_take(&p.cons, &e, out);
		assert_memory_equal(out, "abcdefghijklmnopqrstuvwxyz", 26);
		shm_ring_release(&p.cons);
	}
	assert_true(p.prod.pos < start);
	pair_done(&p);
}

static void test_index_caching(void **state)
{
	struct pair p;
	struct shm_entry e;

	pair_init(&p, 4096, 1024);
	/* One look at the consumer's head, and the producer fills the whole
	 * ring from its cache; only a full ring makes it look again. */
	for (int i = 0; i < 128; i++)
		assert_int_equal(push(&p, i, 0, "x", 1), 0);
	assert_int_equal(p.prod.remote_loads, 1);
	assert_int_equal(push(&p, 128, 0, "x", 1), -EAGAIN);
	assert_int_equal(p.prod.remote_loads, 2);
	shm_ring_publish(&p.prod);

	/* The consumer loads the tail once and then reads all 128 entries
	 * from its cache. */
	for (int i = 0; i < 128; i++) {
		assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
		shm_ring_take(&p.cons, &e, NULL);
	}
	assert_int_equal(p.cons.remote_loads, 1);
	shm_ring_release(&p.cons);
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EAGAIN);
	assert_int_equal(p.cons.remote_loads, 2);

	/* After the release one reload gives the producer the whole ring. */
	for (int i = 0; i < 128; i++)
		assert_int_equal(push(&p, i, 0, "x", 1), 0);
	assert_int_equal(p.prod.remote_loads, 3);
	pair_done(&p);
}

static void test_out_of_order_completion(void **state)
{
	struct pair p;
	struct shm_entry e;
	char out[32];
	/* Eight requests in flight, completed in a scrambled order: the
	 * consumer matches each completion by id, once. */
	const uint64_t ids[8] = {
		1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007
	};
	const unsigned order[8] = { 5, 2, 7, 0, 3, 6, 1, 4 };
	bool seen[8] = { false };

	pair_init(&p, 4096, 1024);
	for (int i = 0; i < 8; i++) {
		char reply[32];
		int n = snprintf(reply, sizeof(reply), "reply-%llu",
				 (unsigned long long)ids[order[i]]);
		assert_int_equal(
			push(&p, ids[order[i]], 0x02, reply, (uint32_t)n), 0);
		shm_ring_publish(&p.prod);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
		assert_int_equal(e.id, ids[order[i]]);
		shm_ring_take(&p.cons, &e, out);
		out[e.len] = '\0';
		unsigned slot = (unsigned)(e.id - 1000);
		assert_true(slot < 8);
		assert_false(seen[slot]);
		seen[slot] = true;
		char want[32];
		snprintf(want, sizeof(want), "reply-%llu",
			 (unsigned long long)e.id);
		assert_string_equal(out, want);
	}
	shm_ring_release(&p.cons);
	for (int i = 0; i < 8; i++)
		assert_true(seen[i]);
	pair_done(&p);
}

/* Drains every entry into m; returns the number of complete messages,
 * checking each against its id as seed. */
static int drain_msgs(struct pair *p, struct shm_msg *m, uint8_t *frag,
		      uint64_t *next)
{
	struct shm_entry e;
	int done = 0;

	while (shm_ring_peek(&p->cons, &e) == 0) {
		shm_ring_take(&p->cons, &e, frag);
		int r = shm_msg_add(m, &e, frag);
		assert_true(r >= 0);
		if (r == 1) {
			assert_int_equal(m->id, *next);
			check_fill(m->buf, m->len, *next);
			(*next)++;
			done++;
		}
	}
	shm_ring_release(&p->cons);
	return done;
}

static void test_fragments(void **state)
{
	struct pair p;
	struct shm_msg m;
	uint8_t frag[1024];
	uint64_t next = 0;
	static uint8_t big[50000];

	pair_init(&p, 4096, 1024);
	shm_msg_init(&m, 60000);
	/* Messages of 0, 1, exactly one entry, one more, and far more than
	 * the whole ring: the writer resumes where the full ring stopped. */
	const size_t sizes[] = { 0, 1, 1024, 1025, 50000, 3 };
	for (uint64_t id = 0; id < ELEMENTSOF(sizes); id++) {
		size_t off = 0;
		fill(big, sizes[id], id);
		for (;;) {
			int r = shm_ring_write_msg(&p.prod, id, 7, big,
						   sizes[id], &off);
			shm_ring_publish(&p.prod);
			if (r == 0)
				break;
			assert_int_equal(r, -EAGAIN);
			drain_msgs(&p, &m, frag, &next);
		}
	}
	drain_msgs(&p, &m, frag, &next);
	assert_int_equal(next, ELEMENTSOF(sizes));
	shm_msg_done(&m);
	pair_done(&p);
}

static void test_fragment_limits(void **state)
{
	struct shm_msg m;
	uint8_t chunk[100] = { 0 };
	struct shm_entry more = {
		.id = 1, .len = 100, .opcode = 4, .flags = SHM_ENTRY_MORE
	};
	struct shm_entry last = { .id = 1, .len = 100, .opcode = 4 };

	shm_msg_init(&m, 250);
	/* Beyond max: the message is counted to its end, then refused, and
	 * the next message is read normally. */
	assert_int_equal(shm_msg_add(&m, &more, chunk), 0);
	assert_int_equal(shm_msg_add(&m, &more, chunk), 0);
	assert_int_equal(shm_msg_add(&m, &more, chunk), 0);
	assert_int_equal(shm_msg_add(&m, &last, chunk), -EMSGSIZE);
	last.id = 2;
	assert_int_equal(shm_msg_add(&m, &last, chunk), 1);
	assert_int_equal(m.len, 100);
	/* A fragment of another request while one is open. */
	assert_int_equal(shm_msg_add(&m, &more, chunk), 0);
	struct shm_entry other = { .id = 9, .len = 1, .opcode = 4 };
	assert_int_equal(shm_msg_add(&m, &other, chunk), -EPROTO);
	other.id = 1;
	other.opcode = 5;
	assert_int_equal(shm_msg_add(&m, &other, chunk), -EPROTO);
	shm_msg_done(&m);
}

static void test_wake_protocol(void **state)
{
	struct pair p;
	struct shm_entry e;

	pair_init(&p, 4096, 1024);
	/* An awake (spinning) consumer costs the producer no doorbell. */
	assert_int_equal(push(&p, 1, 0, "a", 1), 0);
	shm_ring_publish(&p.prod);
	assert_false(shm_ring_consumer_wake_needed(&p.prod));
	/* Data is there: the consumer must not go to sleep. */
	assert_false(shm_ring_consumer_prepare_sleep(&p.cons));
	assert_int_equal(*p.cons.consumer_state, 0);
	assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
	shm_ring_take(&p.cons, &e, NULL);
	shm_ring_release(&p.cons);
	/* Empty: it may sleep, and the next publish rings exactly once. */
	assert_true(shm_ring_consumer_prepare_sleep(&p.cons));
	assert_int_equal(*p.cons.consumer_state, 1);
	assert_int_equal(push(&p, 2, 0, "b", 1), 0);
	shm_ring_publish(&p.prod);
	assert_true(shm_ring_consumer_wake_needed(&p.prod));
	assert_false(shm_ring_consumer_wake_needed(&p.prod));
	/* A futex wait on the cleared word returns at once. */
	assert_int_equal(shm_futex_wait(p.cons.consumer_state, 1, 1000000000),
			 0);

	/* The producer side: waiting for room, woken by one release. */
	while (push(&p, 3, 0, "c", 1) == 0)
		;
	shm_ring_publish(&p.prod);
	assert_true(shm_ring_producer_prepare_sleep(&p.prod, 32));
	assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
	shm_ring_take(&p.cons, &e, NULL);
	shm_ring_release(&p.cons);
	assert_true(shm_ring_producer_wake_needed(&p.cons));
	assert_false(shm_ring_producer_wake_needed(&p.cons));
	assert_false(shm_ring_producer_prepare_sleep(&p.prod, 32));
	assert_int_equal(shm_futex_wait(p.cons.consumer_state, 1, 1000), 0);
	pair_done(&p);
}

static void test_hostile_indices(void **state)
{
	struct pair p;
	struct shm_entry e;

	pair_init(&p, 4096, 1024);
	/* A tail more than the ring ahead of the head. */
	*p.cons.tail = 4096 + 16;
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EPROTO);
	assert_false(shm_ring_empty(&p.cons));
	/* A tail behind the head (wraps to a huge distance). */
	*p.cons.tail = (uint32_t)-16;
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EPROTO);
	/* A misaligned tail. */
	*p.cons.tail = 24;
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EPROTO);
	/* Fewer bytes than a header. */
	*p.cons.tail = 0;
	shm_ring_bind(&p.cons, p.mem, 4096, 1024, false);

	/* The producer's view of a hostile consumer head. */
	for (int i = 0; i < 128; i++)
		assert_int_equal(push(&p, i, 0, "x", 1), 0);
	*p.prod.head = 8;
	assert_int_equal(push(&p, 0, 0, "x", 1), -EPROTO);
	*p.prod.head = 4096 + 4096;
	assert_int_equal(push(&p, 0, 0, "x", 1), -EPROTO);
	pair_done(&p);
}

static void put_header(struct pair *p, uint32_t at, uint64_t id, uint32_t len,
		       uint8_t flags, uint8_t reserved)
{
	uint8_t *h = p->mem + SHM_RING_DATA + at;
	memcpy(h, &id, 8);
	memcpy(h + 8, &len, 4);
	h[12] = 1;
	h[13] = flags;
	h[14] = reserved;
	h[15] = 0;
}

static void test_hostile_entries(void **state)
{
	struct pair p;
	struct shm_entry e;

	pair_init(&p, 4096, 1024);
	*p.cons.tail = 64;
	put_header(&p, 0, 1, 16, 0x80, 0);
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EPROTO); /* flags */
	put_header(&p, 0, 1, 16, 0, 1);
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EPROTO); /* reserved */
	put_header(&p, 0, 1, 2000, 0, 0);
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EPROTO); /* > max */
	put_header(&p, 0, 1, 100, 0, 0);
	assert_int_equal(shm_ring_peek(&p.cons, &e), -EPROTO); /* > tail */
	put_header(&p, 0, 1, 48, 0, 0);
	assert_int_equal(shm_ring_peek(&p.cons, &e), 0);
	assert_int_equal(e.len, 48);

	uint8_t raw[16];
	e = (struct shm_entry){ .id = UINT64_MAX,
				.len = 5,
				.opcode = 0xFF,
				.flags = SHM_ENTRY_MORE };
	shm_entry_encode(raw, &e);
	struct shm_entry back;
	assert_int_equal(shm_entry_decode(raw, 5, &back), 0);
	assert_memory_equal(&back, &e, sizeof(e));
	assert_int_equal(shm_entry_decode(raw, 4, &back), -EPROTO);
	pair_done(&p);
}

static void test_region_sealed(void **state)
{
	struct shm_geometry g;
	struct shm_region k, c;

	assert_int_equal(shm_geometry_init(&g, 3000, 4096), -EINVAL);
	assert_int_equal(shm_geometry_init(&g, 8192, 1u << 25), -EINVAL);
	assert_int_equal(shm_geometry_init(&g, 8192, 16384), 0);
	assert_int_equal(g.max_entry, 2048);
	assert_int_equal(shm_region_create(&k, &g, 7, 1 << 20, 50), 0);
	assert_int_equal(k.hdr->magic, SHM_MAGIC);
	assert_true(fcntl(k.fd, F_GETFD) & FD_CLOEXEC);

	/* The peer cannot shrink or grow what the kernel has mapped. */
	assert_int_equal(ftruncate(k.fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(k.fd, (off_t)g.region_size * 2), -1);

	assert_int_equal(shm_region_map(&c, fcntl(k.fd, F_DUPFD_CLOEXEC, 3)),
			 0);
	assert_int_equal(c.hdr->caller_id, 7);
	assert_int_equal(c.geo.cq_size, 16384);

	/* Both views of the rings meet. */
	struct shm_ring ksq, kcq, csq, ccq;
	shm_region_rings(&k, true, &ksq, &kcq);
	shm_region_rings(&c, false, &csq, &ccq);
	struct shm_entry e = { .id = 9, .len = 3, .opcode = 0 };
	assert_int_equal(shm_ring_push(&csq, &e, "abc"), 0);
	shm_ring_publish(&csq);
	assert_int_equal(shm_ring_peek(&ksq, &e), 0);
	assert_int_equal(e.id, 9);
	shm_region_done(&c);

	/* A header that lies is refused by the client. */
	k.hdr->sq_size = 1u << 20;
	assert_int_equal(shm_region_map(&c, fcntl(k.fd, F_DUPFD_CLOEXEC, 3)),
			 -EPROTO);
	k.hdr->sq_size = 8192;
	k.hdr->version = 2;
	assert_int_equal(shm_region_map(&c, fcntl(k.fd, F_DUPFD_CLOEXEC, 3)),
			 -EPROTONOSUPPORT);
	shm_region_done(&k);

	/* An unsealed memfd is refused. */
	int fd = memfd_create("x", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 65536), 0);
	assert_int_equal(shm_region_map(&c, fd), -EPROTO);
}

/* --- two processes --- */

#define STRESS_MSGS	 20000u
#define STRESS_BIG_EVERY 97u
#define STRESS_BIG	 40000u
#define STRESS_OP_END	 0xFFu
/* A wait this long means a lost wake-up, not a slow machine. */
#define STRESS_STALL_NS (20ll * 1000000000)

static uint32_t stress_len(uint64_t id)
{
	if (id % STRESS_BIG_EVERY == 0)
		return (uint32_t)(id * 7919 % STRESS_BIG);
	return (uint32_t)(id * 31 % 200);
}

/* Sleeps until the consumer side of r has data; spins a little first. */
static int wait_data(struct shm_ring *r)
{
	for (int i = 0; i < 200; i++) {
		if (!shm_ring_empty(r))
			return 0;
		shm_cpu_relax();
	}
	while (shm_ring_consumer_prepare_sleep(r)) {
		if (shm_futex_wait(r->consumer_state, 1, STRESS_STALL_NS) ==
		    -ETIMEDOUT)
			return -ETIMEDOUT;
	}
	shm_ring_consumer_awake(r);
	return 0;
}

static int wait_room(struct shm_ring *r, uint32_t want)
{
	while (shm_ring_producer_prepare_sleep(r, want)) {
		if (shm_futex_wait(r->producer_state, 1, STRESS_STALL_NS) ==
		    -ETIMEDOUT)
			return -ETIMEDOUT;
	}
	shm_ring_producer_awake(r);
	return 0;
}

static void publish_and_ring(struct shm_ring *r)
{
	shm_ring_publish(r);
	if (shm_ring_consumer_wake_needed(r))
		shm_futex_wake(r->consumer_state);
}

static void release_and_ring(struct shm_ring *r)
{
	shm_ring_release(r);
	if (shm_ring_producer_wake_needed(r))
		shm_futex_wake(r->producer_state);
}

/* The child: checks every message of the SQ (once, in order) and echoes
 * each entry unchanged onto the CQ. Exit status 0 when all was well. */
static int stress_echo(struct shm_region *reg)
{
	struct shm_ring sq, cq;
	struct shm_msg m;
	static uint8_t frag[1u << 16];
	uint64_t next = 0;

	shm_region_rings(reg, true, &sq, &cq);
	shm_msg_init(&m, STRESS_BIG);
	for (;;) {
		struct shm_entry e;
		int r = shm_ring_peek(&sq, &e);
		if (r == -EAGAIN) {
			release_and_ring(&sq);
			publish_and_ring(&cq);
			if (wait_data(&sq) < 0)
				return 2;
			continue;
		}
		if (r < 0)
			return 3;
		shm_ring_take(&sq, &e, frag);
		if (e.opcode == STRESS_OP_END)
			break;
		r = shm_msg_add(&m, &e, frag);
		if (r < 0)
			return 4;
		if (r == 1) {
			if (m.id != next || m.len != stress_len(next))
				return 5;
			for (size_t i = 0; i < m.len; i++)
				if (m.buf[i] !=
				    (uint8_t)(next * 131 + i * 7 + (i >> 8)))
					return 6;
			next++;
		}
		while ((r = shm_ring_push(&cq, &e, frag)) == -EAGAIN) {
			release_and_ring(&sq);
			publish_and_ring(&cq);
			if (wait_room(&cq, shm_entry_space(e.len)) < 0)
				return 7;
		}
		if (r < 0)
			return 8;
	}
	release_and_ring(&sq);
	publish_and_ring(&cq);
	shm_msg_done(&m);
	return next == STRESS_MSGS ? 0 : 9;
}

struct stress_sender {
	struct shm_ring *sq;
	int r;
};

static void *stress_send(void *arg)
{
	struct stress_sender *s = arg;
	static uint8_t buf[STRESS_BIG];

	for (uint64_t id = 0; id <= STRESS_MSGS && s->r == 0; id++) {
		uint32_t len = id == STRESS_MSGS ? 0 : stress_len(id);
		uint8_t op = id == STRESS_MSGS ? STRESS_OP_END : 1;
		size_t off = 0;
		fill(buf, len, id);
		for (;;) {
			int r = shm_ring_write_msg(s->sq, id, op, buf, len,
						   &off);
			publish_and_ring(s->sq);
			if (r == 0)
				break;
			if (r != -EAGAIN ||
			    wait_room(s->sq, s->sq->max_entry +
						     SHM_ENTRY_HEADER) < 0) {
				s->r = r;
				break;
			}
		}
	}
	return NULL;
}

static void test_two_process_stress(void **state)
{
	struct shm_geometry g;
	struct shm_region reg;

	assert_int_equal(shm_geometry_init(&g, 65536, 65536), 0);
	assert_int_equal(shm_region_create(&reg, &g, 1, STRESS_BIG, 0), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stress_echo(&reg));

	struct shm_ring sq, cq;
	shm_region_rings(&reg, false, &sq, &cq);
	struct stress_sender sender = { .sq = &sq };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, stress_send, &sender), 0);

	struct shm_msg m;
	static uint8_t frag[1u << 16];
	uint64_t next = 0;
	int failed = 0;
	shm_msg_init(&m, STRESS_BIG);
	while (next < STRESS_MSGS && !failed) {
		struct shm_entry e;
		int r = shm_ring_peek(&cq, &e);
		if (r == -EAGAIN) {
			release_and_ring(&cq);
			if (wait_data(&cq) < 0)
				failed = 1;
			continue;
		}
		assert_int_equal(r, 0);
		shm_ring_take(&cq, &e, frag);
		r = shm_msg_add(&m, &e, frag);
		assert_true(r >= 0);
		if (r == 1) {
			/* Once and in order: the id is exactly the next one. */
			assert_int_equal(m.id, next);
			assert_int_equal(m.len, stress_len(next));
			check_fill(m.buf, m.len, next);
			next++;
		}
	}
	release_and_ring(&cq);
	pthread_join(t, NULL);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(failed);
	assert_int_equal(sender.r, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Nothing more than the messages came back. */
	assert_true(shm_ring_empty(&cq));
	shm_msg_done(&m);
	shm_region_done(&reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_then_one),
		cmocka_unit_test(test_full_and_backpressure),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_small_payloads),
		cmocka_unit_test(test_index_wraps_past_u32),
		cmocka_unit_test(test_index_caching),
		cmocka_unit_test(test_out_of_order_completion),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_fragment_limits),
		cmocka_unit_test(test_wake_protocol),
		cmocka_unit_test(test_hostile_indices),
		cmocka_unit_test(test_hostile_entries),
		cmocka_unit_test(test_region_sealed),
		cmocka_unit_test(test_two_process_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
