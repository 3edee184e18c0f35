/* SPDX-License-Identifier: MIT */
/*
 * Requests that wait for something (RECV for a message, POLL_EVENTS for an
 * event) without blocking the loop: the request is kept in a waiter, queued
 * on its peer, with a ring timer for its deadline. Whoever produces what
 * it waits for wakes the queue; the waiter's fn then tries to answer. The
 * timer always completes once (fired or cancelled), and the waiter is freed
 * in that completion, so it never outlives a pending ring operation.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hub.h"
#include "loop.h"

struct request;
struct conn;

enum waiter_why {
	/* Something arrived: answer if there is something to give. */
	WAITER_WAKE,
	/* The deadline passed (or the kernel stops): answer now. */
	WAITER_TIMEOUT,
};

/* Returns true when it answered w->req. It must call waiter_done() before
 * replying (a failing reply may close the connection, which cancels what
 * is still queued). */
typedef bool (*waiter_fn)(struct waiter *w, enum waiter_why why);

struct waiter {
	struct waiter *q_next, *q_prev;
	struct waitq *q;
	struct waiter *all_next, *all_prev;
	struct hub *hub;
	/* NULL once answered. */
	struct request *req;
	struct loop_timer timer;
	waiter_fn fn;
	uint32_t owner_id;
	/* The request's "max". */
	unsigned max;
};

/*
 * Queues req on q until fn answers it or ms pass. Returns 0, or -errno
 * (the request is then not taken and the caller answers it).
 */
int waiter_start(struct hub *h, struct waitq *q, struct request *req,
		 uint32_t owner_id, unsigned max, uint64_t ms, waiter_fn fn);
/* fn has answered w->req: unlink w and cancel its timer. */
void waiter_done(struct waiter *w);

/* Offers what arrived to the waiters of q, oldest first, until one does
 * not answer. */
void waitq_wake(struct waitq *q);
/* Every waiter of q answers now (WAITER_TIMEOUT). */
void waitq_flush(struct waitq *q);
/* Every waiter of q is answered ECANCELED with why (nothing is taken). */
void waitq_cancel(struct waitq *q, const char *why);

/* Requests of connection c are answered with ECANCELED (c is going). */
void waiters_cancel_conn(struct hub *h, struct conn *c);
/* Every waiting request answers now (shutdown). */
void waiters_flush_all(struct hub *h);
/* After the loop is gone: frees every waiter without touching requests. */
void waiters_free_all(struct hub *h);
