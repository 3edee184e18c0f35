/* SPDX-License-Identifier: MIT */
/*
 * libclove on the rings (docs/shm.md). Submitting writes a request's
 * entries at the SQ's tail and rings the kernel's eventfd only when the
 * kernel announced that it sleeps; waiting spins for SPIN_NS, then sleeps
 * on the CQ's futex word in slices of at most SLEEP_SLICE_NS, between which
 * it checks the kernel's detach flag and the socket (a dead kernel can set
 * no flag). Completions are reassembled from their fragments; those that
 * arrive while a blocking call waits for another id are kept in a FIFO for
 * clove_complete().
 *
 * Any broken promise (an impossible index from the kernel, a detach, a
 * timeout) makes the client's ring side unusable: the error sticks and is
 * returned by every later call, as the socket side does with -ENOTCONN.
 */
#include "shm-client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "shm.h"

#define SPIN_NS	       20000u
#define SLEEP_SLICE_NS 100000000ll

struct stashed {
	struct stashed *next;
	struct clove_completion c;
};

struct shm_client {
	struct shm_region region;
	struct shm_ring sq, cq;
	int efd;
	int sock;
	uint64_t next_id;
	unsigned pending;
	struct shm_msg msg;
	uint8_t *frag;
	struct stashed *stash_head, *stash_tail;
	/* Sticky: once set, every call returns it. */
	int error;
};

int shm_client_new(int memfd, int efd, int sock, struct shm_client **ret)
{
	_cleanup_close_ int owned_efd = efd;
	struct shm_client *s = calloc(1, sizeof(*s));
	if (!s) {
		closep(&memfd);
		return -ENOMEM;
	}
	int r = shm_region_map(&s->region, memfd);
	if (r < 0) {
		free(s);
		return r;
	}
	s->frag = malloc(s->region.geo.max_entry);
	if (!s->frag) {
		shm_region_done(&s->region);
		free(s);
		return -ENOMEM;
	}
	shm_region_rings(&s->region, false, &s->sq, &s->cq);
	shm_msg_init(&s->msg, CLOVE_SHM_MAX_REPLY);
	s->efd = take_fd(owned_efd);
	s->sock = sock;
	s->next_id = 1;
	*ret = s;
	return 0;
}

static void doorbell(struct shm_client *s)
{
	uint64_t one = 1;
	/* EAGAIN only when the counter is about to overflow: the kernel has
	 * a wake-up pending anyway. */
	while (write(s->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void shm_client_free(struct shm_client *s)
{
	if (!s)
		return;
	if (s->region.hdr) {
		__atomic_store_n(&s->region.hdr->client_state,
				 SHM_CLIENT_CLOSED, __ATOMIC_RELEASE);
		doorbell(s);
	}
	for (struct stashed *x = s->stash_head, *next; x; x = next) {
		next = x->next;
		free(x->c.reply);
		free(x);
	}
	shm_msg_done(&s->msg);
	free(s->frag);
	closep(&s->efd);
	shm_region_done(&s->region);
	free(s);
}

uint32_t shm_client_caller_id(const struct shm_client *s)
{
	return s->region.hdr->caller_id;
}

unsigned shm_client_pending(const struct shm_client *s)
{
	return s->pending;
}

static int fail(struct shm_client *s, int err)
{
	if (!s->error)
		s->error = err;
	return s->error;
}

/* The kernel's verdict, if it detached. */
static int check_detached(struct shm_client *s)
{
	struct shm_header *h = s->region.hdr;
	if (__atomic_load_n(&h->kernel_state, __ATOMIC_ACQUIRE) ==
	    SHM_KERNEL_ATTACHED)
		return 0;
	int err = __atomic_load_n(&h->detach_error, __ATOMIC_RELAXED);
	return fail(s, err > 0 && err < 4096 ? -err : -ECONNRESET);
}

/* Between sleeps: a closed socket means the kernel is gone. */
static int check_socket(struct shm_client *s)
{
	struct pollfd p = { .fd = s->sock, .events = POLLRDHUP };
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
		return fail(s, -ECONNRESET);
	return 0;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1
			      : (int64_t)(shm_now_ns() +
					  (uint64_t)timeout_ms * 1000000u);
}

/* One sleep slice; -ETIMEDOUT once the deadline has passed. */
static int sleep_slice(struct shm_client *s, uint32_t *word, int64_t deadline)
{
	int64_t slice = SLEEP_SLICE_NS;
	if (deadline >= 0) {
		int64_t left = deadline - (int64_t)shm_now_ns();
		if (left <= 0)
			return fail(s, -ETIMEDOUT);
		if (left < slice)
			slice = left;
	}
	int r = check_detached(s);
	if (r == 0)
		r = check_socket(s);
	if (r < 0)
		return r;
	r = shm_futex_wait(word, 1, slice);
	return r == -EINTR || r == -ETIMEDOUT ? 0 : r;
}

/* Gives the kernel back the CQ bytes read so far. */
static void release_cq(struct shm_client *s)
{
	if (s->cq.pos == s->cq.published)
		return;
	shm_ring_release(&s->cq);
	if (shm_ring_producer_wake_needed(&s->cq))
		doorbell(s);
}

/* After reading completions: the head store, its fence and the look at
 * the kernel's sleep flag are left for the next wait (wait_cq releases
 * first, while the next reply is on its way), unless a quarter of the ring
 * is held back. So a blocking call returns without them, and the kernel
 * still always finds room: with everything read it sees at most a quarter
 * of the ring used, and max_entry is at most a quarter of a ring. */
static void release_cq_if_due(struct shm_client *s)
{
	if (s->cq.pos - s->cq.published >= s->cq.size / 4)
		release_cq(s);
}

/* A wait ended with r (a detach, a timeout): a completion that made it
 * into the CQ first still counts. */
static int detached_but_pending(struct shm_client *s, int r)
{
	/* The kernel publishes its last completions (EXIT's "goodbye")
	 * before it sets the detach flag, and the flag is read with acquire:
	 * a completion that came just before the detach is still delivered. */
	return shm_ring_empty(&s->cq) ? r : 0;
}

/* Waits until the CQ has something to read, having released what was
 * read before (the kernel may be waiting for that room). */
static int wait_cq(struct shm_client *s, int64_t deadline)
{
	/* A fast reply comes within a few hundred ns: the clock (tens of ns
	 * in a VM) is read only when it did not. */
	uint64_t spin_end = 0;

	release_cq(s);
	for (unsigned i = 1;; i++) {
		if (!shm_ring_empty(&s->cq))
			return 0;
		if ((i & 255) == 0) {
			uint64_t now = shm_now_ns();
			if (!spin_end)
				spin_end = now + SPIN_NS;
			else if (now >= spin_end)
				break;
			int r = check_detached(s);
			if (r < 0)
				return detached_but_pending(s, r);
		}
		shm_cpu_relax();
	}
	for (;;) {
		if (!shm_ring_consumer_prepare_sleep(&s->cq))
			return 0;
		int r = sleep_slice(s, s->cq.consumer_state, deadline);
		shm_ring_consumer_awake(&s->cq);
		if (r < 0)
			return detached_but_pending(s, r);
		if (!shm_ring_empty(&s->cq))
			return 0;
	}
}

/* A malloc'd copy with a NUL byte after it. */
static void *dup_reply(const void *data, size_t len)
{
	uint8_t *p = malloc(len + 1);
	if (p) {
		if (len)
			memcpy(p, data, len);
		p[len] = '\0';
	}
	return p;
}

/* Reads one whole completion: 1 with *out filled, 0 when none is complete
 * yet (fragments are kept), <0 on a broken ring. */
static int take_one(struct shm_client *s, struct clove_completion *out)
{
	for (;;) {
		struct shm_entry e;
		int r = shm_ring_peek(&s->cq, &e);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return fail(s, -EPROTO);
		if (!s->msg.open && !(e.flags & SHM_ENTRY_MORE)) {
			/* One entry: straight from the ring into the reply. */
			uint8_t *p = malloc((size_t)e.len + 1);
			if (!p)
				return fail(s, -ENOMEM);
			shm_ring_take(&s->cq, &e, p);
			p[e.len] = '\0';
			*out = (struct clove_completion){
				.id = e.id,
				.opcode = e.opcode,
				.partial = !!(e.flags & SHM_ENTRY_PARTIAL),
				.reply = p,
				.len = e.len
			};
			return 1;
		}
		shm_ring_take(&s->cq, &e, s->frag);
		r = shm_msg_add(&s->msg, &e, s->frag);
		if (r == 0)
			continue;
		if (r < 0 && r != -EMSGSIZE)
			return fail(s, r);
		*out = (struct clove_completion){
			.id = s->msg.id,
			.opcode = s->msg.opcode,
			.partial = !!(s->msg.flags & SHM_ENTRY_PARTIAL)
		};
		if (r == -EMSGSIZE) {
			out->error = -EMSGSIZE;
		} else {
			out->reply = dup_reply(s->msg.buf, s->msg.len);
			if (!out->reply)
				return fail(s, -ENOMEM);
			out->len = s->msg.len;
		}
		if (s->msg.cap > 4 * s->region.geo.max_entry)
			shm_msg_done(&s->msg);
		return 1;
	}
}

static int stash_push(struct shm_client *s, const struct clove_completion *c)
{
	struct stashed *x = malloc(sizeof(*x));
	if (!x) {
		free(c->reply);
		return fail(s, -ENOMEM);
	}
	x->c = *c;
	x->next = NULL;
	if (s->stash_tail)
		s->stash_tail->next = x;
	else
		s->stash_head = x;
	s->stash_tail = x;
	return 0;
}

/* Moves every complete completion in the CQ into the stash. */
static int drain_to_stash(struct shm_client *s)
{
	struct clove_completion c;
	int r;
	while ((r = take_one(s, &c)) == 1)
		if ((r = stash_push(s, &c)) < 0)
			return r;
	release_cq(s);
	return r;
}

/* Waits for room for want bytes in the SQ, reading completions meanwhile
 * so the kernel can always make progress. */
static int wait_room(struct shm_client *s, uint32_t want, int64_t deadline)
{
	for (;;) {
		int r = drain_to_stash(s);
		if (r < 0)
			return r;
		int64_t room = shm_ring_free(&s->sq, want);
		if (room < 0)
			return fail(s, -EPROTO);
		if (room >= want)
			return 0;
		if (!shm_ring_producer_prepare_sleep(&s->sq, want))
			continue;
		/* Short slices: completions may need reading meanwhile. */
		r = sleep_slice(s, s->sq.producer_state, deadline);
		shm_ring_producer_awake(&s->sq);
		if (r < 0)
			return r;
	}
}

int shm_client_submit(struct shm_client *s, uint8_t opcode, const void *payload,
		      size_t len, int timeout_ms, uint64_t *ret_id)
{
	if (s->error)
		return s->error;
	if (len > CLOVE_MAX_REQUEST)
		return -EMSGSIZE;
	int r = check_detached(s);
	if (r < 0)
		return r;

	uint64_t id = s->next_id++;
	int64_t deadline = deadline_of(timeout_ms);
	size_t off = 0;
	for (;;) {
		r = shm_ring_write_msg(&s->sq, id, opcode, payload, len, &off);
		shm_ring_publish(&s->sq);
		if (shm_ring_consumer_wake_needed(&s->sq))
			doorbell(s);
		if (r == 0)
			break;
		if (r != -EAGAIN)
			return fail(s, -EPROTO);
		size_t left = len - off;
		uint32_t chunk = left < s->sq.max_entry ? (uint32_t)left
							: s->sq.max_entry;
		/* A message stopped halfway cannot be taken back: a failed
		 * wait leaves the ring unusable (sticky error). */
		r = wait_room(s, shm_entry_space(chunk), deadline);
		if (r < 0)
			return r;
	}
	s->pending++;
	*ret_id = id;
	return 0;
}

static unsigned stash_take(struct shm_client *s, struct clove_completion *out,
			   unsigned max)
{
	unsigned n = 0;
	while (n < max && s->stash_head) {
		struct stashed *x = s->stash_head;
		s->stash_head = x->next;
		if (!s->stash_head)
			s->stash_tail = NULL;
		out[n++] = x->c;
		free(x);
	}
	return n;
}

int shm_client_complete(struct shm_client *s, struct clove_completion *out,
			unsigned max, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	unsigned n = stash_take(s, out, max);

	for (;;) {
		int r = 0;
		while (n < max && (r = take_one(s, &out[n])) == 1)
			n++;
		release_cq_if_due(s);
		if (r < 0 && n == 0)
			return r;
		if (n > 0 || timeout_ms == 0 || s->pending == 0)
			break;
		r = wait_cq(s, deadline);
		if (r < 0)
			return r;
	}
	/* A partial reply leaves its request pending: its final one
	 * follows. */
	for (unsigned i = 0; i < n; i++)
		if (!out[i].partial)
			s->pending--;
	return (int)n;
}

/* The completion of id, from the stash if it came already. */
static bool stash_find(struct shm_client *s, uint64_t id,
		       struct clove_completion *ret)
{
	for (struct stashed **pp = &s->stash_head; *pp; pp = &(*pp)->next) {
		struct stashed *x = *pp;
		if (x->c.id != id)
			continue;
		*pp = x->next;
		if (s->stash_tail == x) {
			s->stash_tail = s->stash_head;
			while (s->stash_tail && s->stash_tail->next)
				s->stash_tail = s->stash_tail->next;
		}
		*ret = x->c;
		free(x);
		return true;
	}
	return false;
}

/* A partial reply of the request being waited for: to fn, or dropped. */
static void deliver_partial(struct clove_completion *c, clove_partial_fn fn,
			    void *data)
{
	if (fn && c->error == 0)
		fn(data, c->reply, c->len);
	free(c->reply);
}

static int wait_for(struct shm_client *s, uint64_t id, int64_t deadline,
		    clove_partial_fn fn, void *data,
		    struct clove_completion *ret)
{
	while (stash_find(s, id, ret)) {
		if (!ret->partial)
			return 0;
		deliver_partial(ret, fn, data);
	}
	for (;;) {
		struct clove_completion c;
		int r;
		while ((r = take_one(s, &c)) == 1) {
			if (c.id == id && c.partial) {
				deliver_partial(&c, fn, data);
				continue;
			}
			if (c.id == id) {
				release_cq_if_due(s);
				*ret = c;
				return 0;
			}
			if ((r = stash_push(s, &c)) < 0)
				return r;
		}
		if (r < 0)
			return r;
		r = wait_cq(s, deadline);
		if (r < 0)
			return r;
	}
}

int shm_client_call(struct shm_client *s, uint8_t opcode, const void *payload,
		    size_t len, int timeout_ms, void **ret_reply,
		    size_t *ret_len)
{
	return shm_client_call_stream(s, opcode, payload, len, timeout_ms, NULL,
				      NULL, ret_reply, ret_len);
}

int shm_client_call_stream(struct shm_client *s, uint8_t opcode,
			   const void *payload, size_t len, int timeout_ms,
			   clove_partial_fn fn, void *data, void **ret_reply,
			   size_t *ret_len)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct clove_completion c;
	uint64_t id;

	int r = shm_client_submit(s, opcode, payload, len, timeout_ms, &id);
	if (r < 0)
		return r;
	r = wait_for(s, id, deadline, fn, data, &c);
	if (r < 0)
		return r;
	s->pending--;
	if (c.opcode != opcode) {
		free(c.reply);
		return fail(s, -EPROTO);
	}
	if (c.error < 0)
		return c.error;
	if (ret_reply)
		*ret_reply = c.reply;
	else
		free(c.reply);
	if (ret_len)
		*ret_len = c.len;
	return 0;
}
