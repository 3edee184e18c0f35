/* SPDX-License-Identifier: MIT */
/*
 * Waiting requests (see waitq.h). A waiter is on two lists: its queue,
 * until it is answered, and the hub's list of all waiters, until it is
 * freed — in its timer's completion, which always comes exactly once, so
 * nothing is freed while the ring may still hold its timer.
 */
#include "waitq.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "kernel.h"
#include "macro.h"
#include "request.h"

static void waiter_unqueue(struct waiter *w)
{
	struct waitq *q = w->q;

	if (!q)
		return;
	if (w->q_prev)
		w->q_prev->q_next = w->q_next;
	else
		q->head = w->q_next;
	if (w->q_next)
		w->q_next->q_prev = w->q_prev;
	else
		q->tail = w->q_prev;
	w->q_next = w->q_prev = NULL;
	w->q = NULL;
}

static void waiter_free(struct waiter *w)
{
	struct hub *h = w->hub;

	waiter_unqueue(w);
	if (w->all_prev)
		w->all_prev->all_next = w->all_next;
	else
		h->waiters = w->all_next;
	if (w->all_next)
		w->all_next->all_prev = w->all_prev;
	free(w);
}

static void waiter_timer_fired(struct loop_timer *t, int res)
{
	struct waiter *w = container_of(t, struct waiter, timer);

	if (w->req) {
		/* The deadline: the handler answers whatever it has. */
		bool answered = w->fn(w, WAITER_TIMEOUT);

		assert(answered);
		(void)answered;
	}
	waiter_free(w);
}

int waiter_start(struct hub *h, struct waitq *q, struct request *req,
		 uint32_t owner_id, unsigned max, uint64_t ms, waiter_fn fn)
{
	struct waiter *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->hub = h;
	w->req = req;
	w->fn = fn;
	w->owner_id = owner_id;
	w->max = max;
	w->timer.fn = waiter_timer_fired;
	r = loop_timer_arm(h->k->loop, &w->timer, ms);
	if (r < 0) {
		free(w);
		return r;
	}
	w->q = q;
	w->q_prev = q->tail;
	if (q->tail)
		q->tail->q_next = w;
	else
		q->head = w;
	q->tail = w;
	w->all_next = h->waiters;
	if (h->waiters)
		h->waiters->all_prev = w;
	h->waiters = w;
	return 0;
}

void waiter_done(struct waiter *w)
{
	w->req = NULL;
	waiter_unqueue(w);
	/* Inside the timer's own completion armed is already false and the
	 * completion frees w; otherwise the cancel's completion will. If the
	 * cancel cannot be queued the timer still fires at its deadline. */
	if (w->timer.armed)
		(void)loop_timer_cancel(w->hub->k->loop, &w->timer);
}

void waitq_wake(struct waitq *q)
{
	struct waiter *w;

	/* Re-read the head each time: answering may unlink other waiters
	 * (a reply that fails can close that connection). */
	while ((w = q->head)) {
		if (!w->fn(w, WAITER_WAKE))
			break;
		assert(q->head != w);
	}
}

void waitq_flush(struct waitq *q)
{
	struct waiter *w;

	while ((w = q->head)) {
		bool answered = w->fn(w, WAITER_TIMEOUT);

		assert(answered && q->head != w);
		(void)answered;
	}
}

void waiters_cancel_conn(struct hub *h, struct conn *c)
{
	/* The all-list only loses entries in timer completions, which never
	 * run from here, so walking it while answering is safe. */
	for (struct waiter *w = h->waiters; w; w = w->all_next) {
		struct request *req = w->req;

		if (!req || req->conn != c)
			continue;
		/* Unlinked before the reply, so nothing reached from the
		 * reply can answer it a second time. */
		waiter_done(w);
		request_reply_error(req, -ECANCELED,
				    "the connection is closing");
	}
}

void waitq_cancel(struct waitq *q, const char *why)
{
	struct waiter *w;

	while ((w = q->head)) {
		struct request *req = w->req;

		waiter_done(w);
		request_reply_error(req, -ECANCELED, "%s", why);
	}
}

void waiters_flush_all(struct hub *h)
{
	for (struct waiter *w = h->waiters; w; w = w->all_next) {
		if (!w->req)
			continue;
		bool answered = w->fn(w, WAITER_TIMEOUT);

		assert(answered);
		(void)answered;
	}
}

void waiters_free_all(struct hub *h)
{
	while (h->waiters)
		waiter_free(h->waiters);
}
