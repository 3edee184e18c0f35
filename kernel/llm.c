/* SPDX-License-Identifier: MIT */
/*
 * THINK calls from a validated request to the reply (llm.h). A call is
 * queued in its caller's flow (llm-sched.h), dispatched to a worker when the
 * scheduler says so, and answered from the worker's result; a retryable
 * failure goes back to its flow after a backoff, a call whose worker died is
 * tried once more elsewhere, a call whose client left is cancelled at the
 * worker and its slot freed. Every call has a deadline (a loop timer).
 *
 * The cancel hook of a request must not answer it (request.h): cancelling
 * only stops the work and marks the call; the answer — dropped, as nobody
 * waits — follows from the call's timer, fired at once.
 */
#include "llm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "caller.h"
#include "kernel.h"
#include "llm-internal.h"
#include "llm-quota.h"
#include "log.h"
#include "loop.h"
#include "macro.h"
#include "perm-policy.h"
#include "perm.h"
#include "request.h"

static void dispatch(struct llm *l);

uint64_t llm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void call_unref(struct llm_call *c)
{
	if (--c->refs > 0)
		return;
	struct llm *l = c->l;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->ncalls--;
	json_decref(c->msg);
	llm_flow_put(l, c->flow);
	free(c);
}

/* Answers the call's request (once) and lets the call go. */
static void call_finish(struct llm_call *c, json_t *reply)
{
	struct request *req = c->req;

	c->req = NULL;
	if (c->timer.armed)
		(void)loop_timer_cancel(c->l->k->loop, &c->timer);
	if (req) {
		req->cancel = NULL;
		request_reply_json(req, reply);
	} else {
		json_decref(reply);
	}
	call_unref(c);
}

_printf_(4, 5) static void call_fail(struct llm_call *c, int err,
				     json_t *extra, const char *fmt, ...)
{
	struct request *req = c->req;
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	/* A cancelled call is no error of the caller's or the provider's. */
	if (err != -ECANCELED) {
		c->flow->flow.usage.errors++;
		c->l->usage.errors++;
	}
	if (!req) {
		json_decref(extra);
		call_finish(c, NULL);
		return;
	}
	c->req = NULL;
	if (c->timer.armed)
		(void)loop_timer_cancel(c->l->k->loop, &c->timer);
	req->cancel = NULL;
	request_reply_error_with(req, err, extra, "%s", text);
	call_unref(c);
}

/* A call that reached a worker and ends without its result (a timeout, a
 * cancel, its worker lost for good): the provider may have worked on it,
 * so it counts as a call and is charged its prompt's estimate plus the
 * text it streamed (bytes / 4) — else giving up early would get round
 * llm.max_calls and llm.max_tokens. Ends the job in the scheduler, which
 * keeps at least the estimate charged. */
static void call_charge_stopped(struct llm *l, struct llm_call *c,
				uint64_t now)
{
	struct llm_usage *u = &c->flow->flow.usage;
	uint64_t completion = c->streamed_bytes / 4;
	uint64_t tokens = c->prompt_est + completion;

	u->calls++;
	u->prompt_tokens += c->prompt_est;
	u->completion_tokens += completion;
	l->usage.calls++;
	l->usage.prompt_tokens += c->prompt_est;
	l->usage.completion_tokens += completion;
	llm_sched_done(&l->sched, &c->job, MAX(tokens, c->job.est), now);
}

/* Stops a call wherever it is: out of its queue, or cancelled at its
 * worker (the slot is freed now; the worker sends no result). */
static void call_stop(struct llm_call *c)
{
	struct llm *l = c->l;

	if (c->job.queued) {
		llm_sched_unqueue(&l->sched, &c->job);
	} else if (c->job.running) {
		if (c->worker >= 0) {
			json_t *m = json_pack("{s:s, s:I}", "type", "cancel",
					      "id", (json_int_t)c->id);
			if (m)
				(void)llm_pool_send_to(l->pool,
						       (unsigned)c->worker, m);
			json_decref(m);
			llm_pool_call_done(l->pool, (unsigned)c->worker);
			c->worker = -1;
		}
		call_charge_stopped(l, c, loop_now_ms());
	}
}

static void on_call_timer(struct loop_timer *t, int res)
{
	struct llm_call *c = container_of(t, struct llm_call, timer);

	if (c->cancelled || !c->req) {
		/* Cancelled: the (dropped) answer is due now, and its slot
		 * may go to the next call. */
		struct llm *l = c->l;
		if (c->req)
			call_fail(c, -ECANCELED, NULL, "%s",
				  "the caller went away");
		call_unref(c);
		dispatch(l);
		return;
	}
	if (res == -ETIME) {
		call_stop(c);
		call_fail(c, -ETIMEDOUT, NULL,
			  "no answer from the LLM provider within %s s",
			  c->timeout_text);
		dispatch(c->l);
	}
	call_unref(c);
}

static void on_cancel(struct request *req)
{
	struct llm_call *c = req->cancel_data;

	c->cancelled = true;
	call_stop(c);
	/* Answer, and dispatch the freed slot, from the timer: outside the
	 * caller's walk of its requests, which a reply must not disturb. */
	if (c->timer.armed)
		(void)loop_timer_cancel(c->l->k->loop, &c->timer);
	else if (loop_timer_arm(c->l->k->loop, &c->timer, 0) == 0)
		c->refs++;
}

/* Quotas from the caller's policy (llm-quota.h), before the call is
 * queued and again before it is dispatched. */
static int quota_check(struct llm *l, struct llm_call *c,
		       char *why, size_t len)
{
	const struct perm_policy *p = NULL;
	const struct llm_flow *f = &c->flow->flow;

	if (perm_caller_policy(l->k, &c->caller, &p) < 0 || !p)
		return 0;
	/* The call itself is queued (or, at dispatch, already running). */
	uint64_t calls = f->usage.calls + f->running + f->queued - 1;
	return llm_quota_check(p, calls, llm_usage_tokens(&f->usage),
			       l->k->cfg.llm_price_per_1k, why, len);
}

static void send_call(struct llm *l, struct llm_call *c)
{
	uint64_t now = loop_now_ms();
	uint64_t left = c->deadline_ms > now ? c->deadline_ms - now : 1;

	json_object_set_new(c->msg, "timeout_ms", json_integer((json_int_t)left));
	c->sent_ns = llm_now_ns();
	int r = llm_pool_send(l->pool, c->msg);
	if (r >= 0) {
		c->worker = r;
		return;
	}
	llm_sched_refuse(&l->sched, &c->job);
	call_fail(c, r, NULL, "cannot send the call to an llm worker: %s",
		  strerror(-r));
}

static void on_wake(struct loop_timer *t, int res)
{
	struct llm *l = container_of(t, struct llm, wake);
	dispatch(l);
}

static void arm_wake(struct llm *l, uint64_t at_ms)
{
	uint64_t now = loop_now_ms();

	if (at_ms == UINT64_MAX)
		return;
	if (l->wake.armed) {
		if (l->wake_at <= at_ms)
			return;
		/* Sooner than planned: the cancelled timer re-plans. */
		(void)loop_timer_cancel(l->k->loop, &l->wake);
		return;
	}
	l->wake_at = at_ms;
	if (loop_timer_arm(l->k->loop, &l->wake, at_ms > now ? at_ms - now : 0) <
	    0)
		log_error("llm: cannot arm the dispatch timer");
}

/* c's caller is over quota at dispatch: usage only grows, so every call
 * of its flow still queued would be refused too — all are answered EDQUOT
 * now, rather than each taking the flow's turn in its own time. */
static void refuse_flow(struct llm *l, struct llm_call *c, const char *why)
{
	struct llm_caller_flow *flow = c->flow;

	call_fail(c, -EDQUOT, NULL, "%s", why);
	for (struct llm_call *i = l->calls, *next; i; i = next) {
		next = i->next;
		if (i->flow != flow || !i->job.queued || !i->req)
			continue;
		llm_sched_unqueue(&l->sched, &i->job);
		call_fail(i, -EDQUOT, NULL, "%s", why);
	}
}

/* Hands jobs to workers for as long as the scheduler and a ready worker
 * allow. */
static void dispatch(struct llm *l)
{
	char why[256];
	uint64_t wake = UINT64_MAX;

	if (l->dispatching)
		return;
	l->dispatching = true;
	while (llm_pool_ready(l->pool)) {
		uint64_t now = loop_now_ms();
		struct llm_job *j = llm_sched_next(&l->sched, now, &wake);
		if (!j)
			break;
		struct llm_call *c = container_of(j, struct llm_call, job);
		if (quota_check(l, c, why, sizeof(why)) < 0) {
			llm_sched_refuse(&l->sched, j);
			refuse_flow(l, c, why);
			continue;
		}
		send_call(l, c);
	}
	l->dispatching = false;
	arm_wake(l, wake);
}

struct llm_call *llm_call_find(struct llm *l, uint64_t id)
{
	for (struct llm_call *c = l->calls; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

void llm_call_done(struct llm *l, struct llm_call *c, uint64_t tokens)
{
	/* A call counts (towards llm.max_calls too) once the provider has
	 * answered it, well or not. */
	c->flow->flow.usage.calls++;
	l->usage.calls++;
	if (c->worker >= 0)
		llm_pool_call_done(l->pool, (unsigned)c->worker);
	c->worker = -1;
	llm_sched_done(&l->sched, &c->job, tokens, loop_now_ms());
}

/* A retryable failure: back into the flow after the provider's
 * Retry-After or our backoff, if the budget and the deadline allow. */
bool llm_call_retry(struct llm *l, struct llm_call *c, int64_t retry_after_ms)
{
	uint64_t now = loop_now_ms();
	uint64_t backoff = 500ull << MIN(c->retries, 6u);

	if (c->retries >= LLM_MAX_RETRIES)
		return false;
	if (retry_after_ms > 0)
		backoff = MAX(backoff, (uint64_t)retry_after_ms);
	if (now + backoff >= c->deadline_ms)
		return false;
	c->retries++;
	if (c->worker >= 0)
		llm_pool_call_done(l->pool, (unsigned)c->worker);
	c->worker = -1;
	llm_sched_requeue(&l->sched, &c->job, now + backoff);
	log_debug("llm call %llu: retry %u in %llu ms",
		  (unsigned long long)c->id, c->retries,
		  (unsigned long long)backoff);
	dispatch(l);
	return true;
}

void llm_call_reply(struct llm *l, struct llm_call *c, json_t *reply)
{
	call_finish(c, reply);
	dispatch(l);
}

void llm_call_error(struct llm *l, struct llm_call *c, int err, json_t *extra,
		    const char *text)
{
	call_fail(c, err, extra, "%s", text);
	dispatch(l);
}

static void pool_lost(void *data, unsigned worker, const char *why)
{
	struct llm *l = data;
	uint64_t now = loop_now_ms();

	for (struct llm_call *c = l->calls, *next; c; c = next) {
		next = c->next;
		if (c->worker != (int)worker || !c->job.running)
			continue;
		c->worker = -1;
		if (!c->lost_retried && c->req) {
			/* Once more, on whichever worker is ready first. */
			c->lost_retried = true;
			llm_sched_requeue(&l->sched, &c->job, now);
			continue;
		}
		call_charge_stopped(l, c, now);
		call_fail(c, -EIO, NULL, "llm worker died: %s", why);
	}
	dispatch(l);
}

static void pool_ready(void *data)
{
	dispatch(data);
}

/* No worker can start: calls waiting for one fail with the reason now. */
static void pool_unavailable(void *data, const char *why)
{
	struct llm *l = data;

	for (struct llm_call *c = l->calls, *next; c; c = next) {
		next = c->next;
		if (!c->job.queued || !c->req)
			continue;
		llm_sched_unqueue(&l->sched, &c->job);
		call_fail(c, -EIO, NULL, "LLM unavailable: %s", why);
	}
}

static const struct llm_pool_ops pool_ops = {
	.message = llm_on_message,
	.lost = pool_lost,
	.ready = pool_ready,
	.unavailable = pool_unavailable,
};

static int call_new(struct llm *l, struct request *req, struct llm_think *t,
		    struct llm_call **ret)
{
	const struct caller *who = request_caller(req);
	struct llm_call *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->flow = llm_flow_get(l, who);
	if (!c->flow) {
		free(c);
		return -ENOMEM;
	}
	c->l = l;
	c->req = req;
	c->caller = *who;
	c->id = ++l->next_id;
	c->worker = -1;
	c->refs = 1;
	c->stream = t->stream && !req->async;
	c->prompt_est = t->est_prompt_tokens;
	c->started_ms = loop_now_ms();
	c->started_ns = llm_now_ns();
	c->deadline_ms = c->started_ms + t->timeout_ms;
	snprintf(c->timeout_text, sizeof(c->timeout_text), "%g",
		 (double)t->timeout_ms / 1000.0);
	c->timer.fn = on_call_timer;
	c->msg = json_pack("{s:s, s:I, s:s, s:s, s:b, s:O}", "type", "think",
			   "id", (json_int_t)c->id, "provider", l->provider,
			   "model", t->model ? t->model : l->model, "stream",
			   c->stream, "request", t->request);
	c->next = l->calls;
	if (l->calls)
		l->calls->prev = c;
	l->calls = c;
	l->ncalls++;
	if (!c->msg) {
		call_unref(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

static int call_start(struct llm *l, struct llm_call *c, uint64_t est)
{
	char why[256];

	llm_sched_enqueue(&l->sched, &c->flow->flow, &c->job, est);
	if (quota_check(l, c, why, sizeof(why)) < 0) {
		llm_sched_unqueue(&l->sched, &c->job);
		call_fail(c, -EDQUOT, NULL, "%s", why);
		return -EDQUOT;
	}
	if (loop_timer_arm(l->k->loop, &c->timer,
			   c->deadline_ms - c->started_ms) == 0)
		c->refs++;
	c->req->cancel = on_cancel;
	c->req->cancel_data = c;
	llm_pool_start(l->pool);
	dispatch(l);
	return 0;
}

void llm_think(struct request *req, struct llm_think *t)
{
	struct kernel *k = request_kernel(req);
	struct llm *l = k->llm;
	struct llm_call *c;

	if (k->shutting_down || !l) {
		json_decref(t->request);
		request_reply_error(req, -ESHUTDOWN,
				    "the kernel is shutting down");
		return;
	}
	if (llm_pool_unavailable(l->pool)) {
		json_decref(t->request);
		request_reply_error(req, -EIO, "LLM unavailable: %s",
				    llm_pool_error(l->pool));
		return;
	}
	if (l->ncalls >= LLM_MAX_CALLS) {
		json_decref(t->request);
		request_reply_error(req, -EAGAIN,
				    "too many LLM calls are waiting (limit %d)",
				    LLM_MAX_CALLS);
		return;
	}
	int r = call_new(l, req, t, &c);
	json_decref(t->request);
	if (r < 0) {
		request_reply_error(req, r, "out of memory");
		return;
	}
	(void)call_start(l, c, t->est_tokens);
}

int llm_new(struct kernel *k, struct llm **ret)
{
	struct llm *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->k = k;
	l->wake.fn = on_wake;
	snprintf(l->provider, sizeof(l->provider), "%s", k->cfg.llm_provider);
	snprintf(l->model, sizeof(l->model), "%s", k->cfg.llm_model);
	llm_sched_init(&l->sched, k->cfg.llm_concurrency, k->cfg.llm_rpm,
		       k->cfg.llm_tpm, loop_now_ms());
	r = llm_env_build(k, &l->envp);
	if (r == 0) {
		struct llm_pool_params p = {
			.python = k->cfg.llm_python[0] ? k->cfg.llm_python :
							 k->cfg.python,
			.workers = k->cfg.llm_workers,
			.envp = l->envp,
		};
		r = llm_pool_new(k, &p, &pool_ops, l, &l->pool);
	}
	if (r < 0) {
		llm_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void llm_shutdown(struct kernel *k)
{
	struct llm *l = k->llm;

	if (!l)
		return;
	for (struct llm_call *c = l->calls, *next; c; c = next) {
		next = c->next;
		if (!c->req)
			continue;
		call_stop(c);
		call_fail(c, -ESHUTDOWN, NULL, "%s",
			  "the kernel is shutting down");
	}
	llm_pool_stop(l->pool);
}

void llm_free(struct llm *l)
{
	if (!l)
		return;
	/* The loop is gone: calls and flows go without replies. */
	for (struct llm_call *c = l->calls, *next; c; c = next) {
		next = c->next;
		json_decref(c->msg);
		free(c);
	}
	llm_flows_free(l);
	llm_pool_free(l->pool);
	if (l->envp)
		for (char **e = l->envp; *e; e++)
			free(*e);
	free(l->envp);
	free(l);
}
