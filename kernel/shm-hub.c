/* SPDX-License-Identifier: MIT */
/*
 * The fast path's hub: the list of hot attachments and the loop's
 * busy-poll hook that serves them, and HELLO's negotiation of the fast path
 * and of the socket's payload encoding (docs/shm.md, docs/protocol.md).
 *
 * Busy-polling: a doorbell (or a completion) puts an attachment on the hot
 * list; every loop turn polls each hot attachment once, at most
 * SHM_POLL_BATCH entries each, so many clients share the kernel fairly. An
 * attachment stays hot for SHM_SPIN_US after its last work (a doorbell that
 * finds no work buys one pass, not a window); then it announces sleep in
 * the ring (the client rings the eventfd again) and leaves the list. With no
 * hot attachment the loop sleeps in io_uring_enter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "jsonreq.h"
#include "kernel.h"
#include "loop.h"
#include "proto.h"
#include "request.h"
#include "shm-attach.h"
#include "shm-internal.h"

#define SPIN_NS ((uint64_t)SHM_SPIN_US * 1000)

void shm_attach_make_hot(struct shm_attach *a)
{
	if (a->detached)
		return;
	shm_ring_consumer_awake(&a->sq);
	/* Polled at least once; only work found extends the window, so a
	 * client ringing an empty ring cannot keep the kernel spinning. */
	a->hub->now = shm_now_ns();
	if (a->hot_until < a->hub->now)
		a->hot_until = a->hub->now;
	if (!a->on_hot) {
		/* Into the incoming list: hub_poll may be walking the hot list
		 * right now (a completion of one attachment can wake another). */
		a->on_hot = true;
		a->refs++;
		a->hot_next = a->hub->incoming;
		a->hub->incoming = a;
	}
	loop_poll_wake(a->hub->k->loop);
}

/* The loop's hook: one pass over every hot attachment. Only this function
 * takes attachments off the list, so its walk is safe even when a pass
 * detaches another attachment (that one stays listed until reached). */
static bool hub_poll(void *data)
{
	struct shm_hub *h = data;
	struct shm_attach **pp;
	bool fresh = false;

	/* Newly hot attachments join at the front, outside any walk. */
	while (h->incoming) {
		struct shm_attach *a = h->incoming;
		h->incoming = a->hot_next;
		a->hot_next = h->hot;
		h->hot = a;
	}
	pp = &h->hot;
	/* Idle passes read the clock every 16th time (a few microseconds
	 * against a 50 us window); a pass that worked reads it afterwards, so
	 * a long busy stretch never leaves the window ending in the past. */
	if ((++h->passes & 15) == 0) {
		h->now = shm_now_ns();
		fresh = true;
	}
	while (*pp) {
		struct shm_attach *a = *pp;
		if (shm_attach_poll(a)) {
			if (!fresh) {
				h->now = shm_now_ns();
				fresh = true;
			}
			a->hot_until = h->now + SPIN_NS;
		}
		bool keep = !a->detached &&
			    (h->now < a->hot_until || !shm_attach_try_sleep(a));
		if (keep) {
			pp = &a->hot_next;
			continue;
		}
		*pp = a->hot_next;
		a->on_hot = false;
		shm_attach_unref(a);
	}
	return h->hot != NULL || h->incoming != NULL;
}

int shm_hub_new(struct kernel *k, struct shm_hub **ret)
{
	struct shm_hub *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->k = k;
	loop_set_poll(k->loop, hub_poll, h);
	*ret = h;
	return 0;
}

void shm_hub_free(struct shm_hub *h)
{
	if (!h)
		return;
	while (h->all)
		shm_attach_free_at_exit(h->all);
	free(h);
}

static int parse_sizes(json_t *want, uint32_t *sq, uint32_t *cq, char *err,
		       size_t errlen)
{
	static const char *const names[] = { "sq_size", "cq_size" };
	int64_t v[2] = { SHM_DEFAULT_SQ, SHM_DEFAULT_CQ };

	if (!json_is_true(want)) {
		if (!json_is_object(want)) {
			snprintf(err, errlen,
				 "shm must be true, false or an "
				 "object {sq_size, cq_size}");
			return -EINVAL;
		}
		for (unsigned i = 0; i < 2; i++) {
			struct jr_err jerr;
			if (jr_int(want, names[i], false, SHM_MIN_RING,
				   SHM_MAX_SIZE, &v[i], &jerr) < 0 ||
			    !shm_ring_size_valid((uint64_t)v[i])) {
				snprintf(err, errlen,
					 "shm.%s must be a power of two from "
					 "%u to %u",
					 names[i], SHM_MIN_RING, SHM_MAX_SIZE);
				return -EINVAL;
			}
		}
	}
	*sq = (uint32_t)v[0];
	*cq = (uint32_t)v[1];
	return 0;
}

static json_t *shm_reply(const struct shm_attach *a)
{
	const struct shm_geometry *g = &a->region.geo;
	return json_pack("{s:b, s:i, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:s, "
			 "s:[s, s]}",
			 "enabled", 1, "version", SHM_VERSION, "region_size",
			 (json_int_t)g->region_size, "sq_size", (int)g->sq_size,
			 "cq_size", (int)g->cq_size, "max_entry",
			 (int)g->max_entry, "max_request", PROTO_MAX_REQUEST,
			 "max_inflight", SHM_MAX_INFLIGHT, "spin_us",
			 SHM_SPIN_US, "encoding", "msgpack", "fds", "memfd",
			 "eventfd");
}

/* Attaches c; on success the memfd and a copy of the eventfd follow the
 * reply. Returns the reply's "shm" object. */
static json_t *attach(struct request *req, uint32_t sq, uint32_t cq)
{
	struct conn *c = req->conn;
	struct kernel *k = request_kernel(req);
	char why[160] = "";
	struct shm_attach *a = NULL;

	if (req->shm)
		snprintf(why, sizeof(why),
			 "ask on the socket: the fds travel "
			 "over it");
	else if (conn_shm(c))
		snprintf(why, sizeof(why),
			 "this connection has the fast path "
			 "attached already");
	else {
		int r = shm_attach_new(k->shm_hub, c, sq, cq, &a);
		if (r < 0)
			snprintf(why, sizeof(why),
				 "cannot set up the shared "
				 "memory: %s",
				 strerror(-r));
	}
	if (!a) {
		if (!req->shm)
			(void)conn_pass_fds_after(req, NULL, 0);
		return json_pack("{s:b, s:s}", "enabled", 0, "reason", why);
	}
	int fds[2] = { a->region.fd, fcntl(a->efd, F_DUPFD_CLOEXEC, 3) };
	a->region.fd = -EBADF; /* the kernel keeps only its mapping */
	if (fds[1] < 0) {
		close(fds[0]);
		shm_attach_detach(a, EMFILE, "cannot pass the eventfd");
		(void)conn_pass_fds_after(req, NULL, 0);
		return json_pack("{s:b, s:s}", "enabled", 0, "reason",
				 "out of file descriptors");
	}
	(void)conn_pass_fds_after(req, fds, 2);
	return shm_reply(a);
}

int shm_attach_hello(struct request *req, json_t *args, json_t *reply,
		     char *err, size_t errlen)
{
	json_t *enc = json_object_get(args, "encoding");
	json_t *want = json_object_get(args, "shm");
	uint32_t sq = 0, cq = 0;
	bool msgpack = req->shm || conn_msgpack(req->conn);

	if (enc && !json_is_null(enc)) {
		const char *e = json_string_value(enc);
		if (!e || (strcmp(e, "json") && strcmp(e, "msgpack"))) {
			snprintf(err, errlen,
				 "encoding must be \"json\" or \"msgpack\"");
			return -EINVAL;
		}
		if (!req->shm)
			msgpack = strcmp(e, "msgpack") == 0;
	}
	bool asked = want && !json_is_null(want) && !json_is_false(want);
	if (asked && parse_sizes(want, &sq, &cq, err, errlen) < 0)
		return -EINVAL;
	/* One byte after each such reply: a second HELLO pipelined behind
	 * the first must wait until the first one's byte is out. */
	if (asked && !req->shm && conn_pass_pending(req->conn)) {
		snprintf(err, errlen, "a previous HELLO's fast-path fds are "
				      "still being sent; ask again");
		return -EBUSY;
	}

	/* Nothing changes before every field is known to be good. */
	if (!req->shm)
		conn_set_msgpack(req->conn, msgpack);
	json_object_set_new(reply, "encoding",
			    json_string(msgpack ? "msgpack" : "json"));
	if (asked)
		json_object_set_new(reply, "shm", attach(req, sq, cq));
	return 0;
}
