/* SPDX-License-Identifier: MIT */
/*
 * The fast path's attachments: one per connection that asked for it in
 * HELLO. An attachment is reference counted: one reference while attached,
 * one for its pending eventfd read, one while it is on the hot list, one
 * per request taken from its ring and not yet written back (or dropped).
 *
 * The path of an entry: doorbell or busy-poll -> shm_ring_peek (the header
 * is copied out and checked against the ring) -> shm_ring_take (the payload
 * is copied into a private buffer) -> reassembly of fragments -> a NOOP
 * that dispatch_echo_allowed() clears is echoed from that copy straight
 * into the completion ring (answer_echo); every other request:
 * conn_request_new + dispatch_request (msgpack decoded into json_t there,
 * permission check, handler) -> the handler answers, at once or later ->
 * shm_attach_request_done -> the reply is written to the completion ring
 * under the request's id (waiting in a private queue while the ring is
 * full) -> publish -> futex wake if the client sleeps.
 */
#include "shm-attach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conn.h"
#include "dispatch.h"
#include "kernel.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "request.h"
#include "shm-internal.h"

static void attach_ref(struct shm_attach *a)
{
	a->refs++;
}

/* Frees what is left once nothing refers to a (the loop may be gone: at
 * exit shm_hub_free calls this directly). */
static void attach_free(struct shm_attach *a)
{
	struct shm_hub *h = a->hub;

	if (a->prev)
		a->prev->next = a->next;
	else if (h->all == a)
		h->all = a->next;
	if (a->next)
		a->next->prev = a->prev;
	shm_region_done(&a->region);
	closep(&a->efd);
	shm_msg_done(&a->msg);
	free(a->frag);
	free(a);
}

void shm_attach_unref(struct shm_attach *a)
{
	if (--a->refs == 0)
		attach_free(a);
}

void shm_attach_free_at_exit(struct shm_attach *a)
{
	/* Like conn_free_all: nothing can complete any more, and the
	 * connections these requests pin are released right after. */
	struct request *lists[] = { a->reqs, a->out_head };
	for (unsigned i = 0; i < ELEMENTSOF(lists); i++) {
		struct request *req = lists[i], *next;
		for (; req; req = next) {
			next = req->next;
			free(req->reply);
			free(req);
		}
	}
	if (a->conn && conn_shm(a->conn) == a)
		conn_set_shm(a->conn, NULL);
	attach_free(a);
}

/* A request taken from the ring is finished with (written or dropped). */
static void drop_request(struct shm_attach *a, struct request *req)
{
	conn_request_free(req);
	a->inflight--;
	shm_attach_unref(a);
}

static void reqs_unlink(struct shm_attach *a, struct request *req)
{
	if (req->shm_prev)
		req->shm_prev->next = req->next;
	else
		a->reqs = req->next;
	if (req->next)
		req->next->shm_prev = req->shm_prev;
	req->next = req->shm_prev = NULL;
}

static void wake_client(struct shm_attach *a)
{
	/* The words go to 0 first, so a client entering its futex wait
	 * after this returns at once. */
	__atomic_store_n(a->cq.consumer_state, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(a->sq.producer_state, 0, __ATOMIC_SEQ_CST);
	shm_futex_wake(a->cq.consumer_state);
	shm_futex_wake(a->sq.producer_state);
}

void shm_attach_detach(struct shm_attach *a, int err, const char *reason)
{
	if (!a || a->detached)
		return;
	a->detached = true;
	if (err)
		log_info("connection %u: fast path detached: %s", a->caller_id,
			 reason);
	struct shm_header *hdr = a->region.hdr;
	hdr->detach_error = err;
	snprintf(hdr->detach_reason, sizeof(hdr->detach_reason), "%s", reason);
	__atomic_store_n(&hdr->kernel_state, SHM_KERNEL_DETACHED,
			 __ATOMIC_RELEASE);
	wake_client(a);

	/* Nobody will read the answers: the work still running for the
	 * rings stops (its completions are dropped as it ends). */
	for (struct request *req = a->reqs; req; req = req->next)
		request_cancel(req);
	if (a->efd_armed && a->hub->k->loop)
		(void)loop_cancel(a->hub->k->loop, &a->efd_op);
	if (a->conn && conn_shm(a->conn) == a)
		conn_set_shm(a->conn, NULL);
	a->conn = NULL;
	shm_msg_done(&a->msg);
	while (a->out_head) {
		struct request *req = a->out_head;
		a->out_head = req->next;
		drop_request(a, req);
	}
	a->out_tail = NULL;
	a->out_partials = 0;
	a->out_partial_bytes = 0;
	shm_attach_unref(a);
}

bool shm_attach_attached(const struct shm_attach *a)
{
	return !a->detached;
}

bool shm_attach_busy(const struct shm_attach *a)
{
	return !a->detached && a->inflight > 0;
}

/* Makes written completions visible and wakes a sleeping client. Within a
 * pass (many entries taken at once) the first completion is published at
 * once and then every PUBLISH_EVERY, so a waiting client sees replies early
 * without the ring's tail bouncing between the caches for every one; the
 * client's sleep flag is checked once, when the pass ends. */
#define PUBLISH_EVERY 16u

static void publish_cq(struct shm_attach *a)
{
	if (a->detached)
		return;
	if (a->cq.pos != a->cq.published &&
	    (!a->in_pass || a->cq_batched++ % PUBLISH_EVERY == 0)) {
		shm_ring_publish(&a->cq);
		a->cq_unchecked = true;
	}
	if (!a->in_pass)
		a->cq_batched = 0;
	if (a->in_pass || !a->cq_unchecked)
		return;
	a->cq_unchecked = false;
	if (shm_ring_consumer_wake_needed(&a->cq))
		shm_futex_wake(a->cq.consumer_state);
}

/* Writes (the rest of) a completion from *off on: 0 when all of it is in
 * the ring, -EAGAIN when the ring is full (*off says how far it got), or
 * another error after which a is detached. */
static int write_cq(struct shm_attach *a, uint64_t id, uint8_t opcode,
		    uint8_t flags, const void *data, size_t len, size_t *off)
{
	int r = shm_ring_write_msg_flags(&a->cq, id, opcode, flags, data, len,
					 off);
	if (r < 0 && r != -EAGAIN)
		shm_attach_detach(a, EPROTO,
				  "the completion ring's head index is "
				  "impossible");
	return r;
}

/* Writes queued replies into the completion ring until it is full. */
static void flush_out(struct shm_attach *a)
{
	while (a->out_head && !a->detached) {
		struct request *req = a->out_head;
		if (write_cq(a, req->shm_id, req->opcode,
			     req->partial_reply ? SHM_ENTRY_PARTIAL : 0,
			     req->reply, req->reply_len, &a->out_off) < 0)
			return;
		a->out_off = 0;
		publish_cq(a);
		a->out_head = req->next;
		if (!a->out_head)
			a->out_tail = NULL;
		bool close_after = req->close_after;
		struct conn *c = a->conn;
		if (req->partial_reply) {
			a->out_partials--;
			a->out_partial_bytes -= req->reply_len;
		}
		drop_request(a, req);
		if (close_after) {
			/* EXIT: the goodbye is out, then the connection
			 * closes, socket and rings alike. */
			publish_cq(a);
			shm_attach_detach(a, 0, "EXIT");
			conn_close_after_replies(c);
			return;
		}
	}
}

void shm_attach_request_done(struct request *req)
{
	struct shm_attach *a = req->shm;

	attach_ref(a);
	reqs_unlink(a, req);
	if (a->detached) {
		drop_request(a, req);
	} else {
		req->next = NULL;
		if (a->out_tail)
			a->out_tail->next = req;
		else
			a->out_head = req;
		a->out_tail = req;
		flush_out(a);
		if (!a->in_pass) {
			publish_cq(a);
			/* Entries may wait behind the in-flight limit. */
			shm_attach_make_hot(a);
		}
	}
	shm_attach_unref(a);
}

void shm_attach_partial(struct request *req, uint8_t *data, size_t len)
{
	struct shm_attach *a = req->shm;
	struct request *p;

	if (a->detached || !a->conn || a->out_partials >= SHM_MAX_PARTIALS ||
	    a->out_partial_bytes + len > SHM_MAX_PARTIAL_BYTES ||
	    !(p = conn_request_new(a->conn, req->opcode))) {
		req->partials_stopped = true;
		free(data);
		return;
	}
	/* A reply-only request: it was never in a->reqs, so nothing cancels
	 * it; it goes out before req's final reply, which is queued later. */
	p->shm = a;
	p->shm_id = req->shm_id;
	p->msgpack = true;
	p->done = true;
	p->partial_reply = true;
	p->reply = data;
	p->reply_len = len;
	a->inflight++;
	a->out_partials++;
	a->out_partial_bytes += len;
	attach_ref(a);
	attach_ref(a);
	if (a->out_tail)
		a->out_tail->next = p;
	else
		a->out_head = p;
	a->out_tail = p;
	flush_out(a);
	if (!a->in_pass) {
		publish_cq(a);
		shm_attach_make_hot(a);
	}
	shm_attach_unref(a);
}

/* A request of the connection whose reply comes back to this ring. */
static struct request *ring_request(struct shm_attach *a, uint64_t id,
				    uint8_t opcode)
{
	struct request *req = conn_request_new(a->conn, opcode);
	if (!req) {
		shm_attach_detach(a, ENOMEM, "out of memory");
		return NULL;
	}
	req->shm = a;
	req->shm_id = id;
	req->msgpack = true;
	req->next = a->reqs;
	if (a->reqs)
		a->reqs->shm_prev = req;
	a->reqs = req;
	a->inflight++;
	attach_ref(a);
	return req;
}

/* A request from the ring goes the way of every request. */
static void dispatch_one(struct shm_attach *a, uint64_t id, uint8_t opcode,
			 const void *payload, size_t len)
{
	struct request *req = ring_request(a, id, opcode);
	if (req)
		dispatch_request(req, payload, len);
}

/* NOOP, the measure of the fast path itself: its reply is its payload,
 * written from the private copy in a->frag straight into the completion
 * ring, with no request object and no allocation. True when answered; what
 * cannot be answered at once (replies queued before it, a full ring, a
 * denial) goes the ordinary way. */
static bool answer_echo(struct shm_attach *a, const struct shm_entry *e)
{
	size_t off = 0;

	if (a->out_head ||
	    !dispatch_echo_allowed(a->hub->k, conn_caller(a->conn), e->opcode))
		return false;
	/* One entry (len <= max_entry): a full ring wrote nothing. */
	int r = write_cq(a, e->id, e->opcode, 0, a->frag, e->len, &off);
	if (r == -EAGAIN)
		return false;
	if (r == 0)
		publish_cq(a);
	return true;
}

/* An entry has been copied into a->frag: dispatch it, or add it to the
 * message being reassembled. */
static void take_entry(struct shm_attach *a, const struct shm_entry *e)
{
	if (e->flags & SHM_ENTRY_PARTIAL) {
		shm_attach_detach(a, EPROTO,
				  "a submission entry is flagged partial");
		return;
	}
	if (!a->msg.open && !(e->flags & SHM_ENTRY_MORE)) {
		if (!answer_echo(a, e))
			dispatch_one(a, e->id, e->opcode, a->frag, e->len);
		return;
	}
	int r = shm_msg_add(&a->msg, e, a->frag);
	if (r == 0)
		return;
	if (r == 1) {
		dispatch_one(a, a->msg.id, a->msg.opcode, a->msg.buf,
			     a->msg.len);
		/* A big request's buffer is not kept for the next one. */
		if (a->msg.cap > 4 * a->region.geo.max_entry && !a->detached)
			shm_msg_done(&a->msg);
	} else if (r == -EMSGSIZE) {
		/* Unlike the socket, the ring stays in step: answer and go
		 * on. */
		struct request *req = ring_request(a, a->msg.id, a->msg.opcode);
		if (req)
			request_reply_error(
				req, -EMSGSIZE,
				"payload too large (limit %u bytes)",
				PROTO_MAX_REQUEST);
	} else if (r == -EPROTO) {
		shm_attach_detach(a, EPROTO,
				  "a fragment of another request arrived "
				  "before the last fragment of the open one");
	} else {
		shm_attach_detach(a, -r, "cannot reassemble a request");
	}
}

/* Takes up to SHM_POLL_BATCH entries; returns how many. */
static unsigned drain_sq(struct shm_attach *a)
{
	unsigned n = 0;

	while (n < SHM_POLL_BATCH && a->inflight < SHM_MAX_INFLIGHT &&
	       !a->detached) {
		struct shm_entry e;
		int r = shm_ring_peek(&a->sq, &e);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			shm_attach_detach(a, EPROTO,
					  "the submission ring holds an "
					  "impossible index or entry header");
			break;
		}
		shm_ring_take(&a->sq, &e, a->frag);
		n++;
		take_entry(a, &e);
	}
	return n;
}

bool shm_attach_poll(struct shm_attach *a)
{
	bool worked = false;

	if (a->detached)
		return false;
	if (__atomic_load_n(&a->region.hdr->client_state, __ATOMIC_ACQUIRE) ==
	    SHM_CLIENT_CLOSED) {
		shm_attach_detach(a, 0, "closed by the client");
		return false;
	}
	a->in_pass = true;
	if (a->out_head) {
		uint32_t before = a->cq.pos;
		flush_out(a);
		worked = a->cq.pos != before;
	}
	unsigned n = drain_sq(a);
	a->in_pass = false;
	/* The completions first: the client is waiting for them. */
	publish_cq(a);
	if (n > 0 && !a->detached) {
		worked = true;
		shm_ring_release(&a->sq);
		if (shm_ring_producer_wake_needed(&a->sq))
			shm_futex_wake(a->sq.producer_state);
	}
	return worked;
}

bool shm_attach_try_sleep(struct shm_attach *a)
{
	/* At the in-flight limit the ring is not read: a completion makes
	 * the attachment hot again. */
	bool sq_blocked = a->inflight >= SHM_MAX_INFLIGHT;

	if (!sq_blocked && !shm_ring_consumer_prepare_sleep(&a->sq))
		return false;
	if (a->out_head) {
		uint32_t left = (uint32_t)(a->out_head->reply_len - a->out_off);
		uint32_t chunk =
			left < a->cq.max_entry ? left : a->cq.max_entry;
		if (!shm_ring_producer_prepare_sleep(&a->cq,
						     shm_entry_space(chunk))) {
			shm_ring_consumer_awake(&a->sq);
			return false;
		}
	}
	return true;
}

static int arm_doorbell(struct shm_attach *a);

static void on_doorbell(struct loop_op *op, int res, uint32_t flags)
{
	struct shm_attach *a = container_of(op, struct shm_attach, efd_op);

	a->efd_armed = false;
	if (a->detached || res == -ECANCELED) {
		shm_attach_unref(a);
		return;
	}
	if (res < 0 && res != -EAGAIN && res != -EINTR) {
		shm_attach_detach(a, -res, "cannot read the doorbell eventfd");
		shm_attach_unref(a);
		return;
	}
	/* The read's reference carries over to the next read. */
	if (arm_doorbell(a) < 0) {
		shm_attach_detach(a, EIO, "cannot re-arm the doorbell");
		shm_attach_unref(a);
		return;
	}
	shm_attach_make_hot(a);
}

static int arm_doorbell(struct shm_attach *a)
{
	int r = loop_read(a->hub->k->loop, &a->efd_op, a->efd, &a->efd_val,
			  sizeof(a->efd_val), -1);
	if (r == 0)
		a->efd_armed = true;
	return r;
}

int shm_attach_new(struct shm_hub *h, struct conn *c, uint32_t sq_size,
		   uint32_t cq_size, struct shm_attach **ret)
{
	struct shm_geometry g;
	int r = shm_geometry_init(&g, sq_size, cq_size);
	if (r < 0)
		return r;
	struct shm_attach *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->hub = h;
	a->efd = -EBADF;
	a->caller_id = conn_caller(c)->id;
	a->efd_op.fn = on_doorbell;
	r = shm_region_create(&a->region, &g, a->caller_id, PROTO_MAX_REQUEST,
			      SHM_SPIN_US);
	if (r < 0)
		goto fail;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->frag = malloc(g.max_entry);
	if (a->efd < 0 || !a->frag) {
		r = a->efd < 0 ? negative_errno() : -ENOMEM;
		goto fail;
	}
	shm_region_rings(&a->region, true, &a->sq, &a->cq);
	shm_msg_init(&a->msg, PROTO_MAX_REQUEST);
	/* The kernel starts asleep: the first submission rings. */
	__atomic_store_n(a->sq.consumer_state, 1, __ATOMIC_RELEASE);
	r = arm_doorbell(a);
	if (r < 0)
		goto fail;
	a->refs = 2; /* attached + the doorbell read */
	a->conn = c;
	a->next = h->all;
	if (h->all)
		h->all->prev = a;
	h->all = a;
	conn_set_shm(c, a);
	*ret = a;
	return 0;
fail:
	shm_region_done(&a->region);
	closep(&a->efd);
	free(a->frag);
	free(a);
	return r;
}
