/* SPDX-License-Identifier: MIT */
/*
 * Start-time fair queuing on tokens, strict priority classes, a
 * concurrency limit and two token buckets (llm-sched.h). Flows are few
 * (one per caller that thinks), so picking scans them; tags are computed
 * for a flow's head only, when it is looked at, so a cost correction made
 * after a job completes applies to every job of that flow still queued.
 */
#include "llm-sched.h"

#include <assert.h>
#include <stddef.h>

#define MS_PER_MINUTE 60000.0

static double bucket_cap(const struct llm_bucket *b)
{
	double sec = (double)b->per_minute / 60.0;
	return sec < 1.0 ? 1.0 : sec;
}

static void bucket_init(struct llm_bucket *b, uint64_t per_minute,
			uint64_t now_ms)
{
	b->per_minute = per_minute;
	b->level = per_minute ? bucket_cap(b) : 0;
	b->last_ms = now_ms;
}

static void bucket_refill(struct llm_bucket *b, uint64_t now_ms)
{
	if (!b->per_minute || now_ms <= b->last_ms)
		return;
	b->level += (double)(now_ms - b->last_ms) * (double)b->per_minute /
		    MS_PER_MINUTE;
	if (b->level > bucket_cap(b))
		b->level = bucket_cap(b);
	b->last_ms = now_ms;
}

/* What the bucket must hold before a job of this cost may go: the cost,
 * or a full bucket for a job bigger than the bucket. */
static double bucket_need(const struct llm_bucket *b, double cost)
{
	double cap = bucket_cap(b);
	return cost < cap ? cost : cap;
}

/* 0 if cost may go now, else the ms until it may. */
static uint64_t bucket_wait(const struct llm_bucket *b, double cost)
{
	if (!b->per_minute)
		return 0;
	double missing = bucket_need(b, cost) - b->level;
	if (missing <= 0)
		return 0;
	double ms = missing * MS_PER_MINUTE / (double)b->per_minute;
	return (uint64_t)ms + 1;
}

void llm_sched_init(struct llm_sched *s, unsigned concurrency, uint64_t rpm,
		    uint64_t tpm, uint64_t now_ms)
{
	*s = (struct llm_sched){ .concurrency = concurrency ? concurrency : 1 };
	bucket_init(&s->requests, rpm, now_ms);
	bucket_init(&s->tokens, tpm, now_ms);
}

void llm_sched_add_flow(struct llm_sched *s, struct llm_flow *f, uint32_t id,
			unsigned weight, unsigned priority)
{
	*f = (struct llm_flow){
		.id = id,
		.weight = weight < 1 ? 1 :
			  weight > LLM_WEIGHT_MAX ? LLM_WEIGHT_MAX : weight,
		.priority = priority > LLM_PRIORITY_MAX ? LLM_PRIORITY_MAX :
							  priority,
		/* A new flow starts now, not at the beginning of time. */
		.finish = s->vtime,
		.next = s->flows,
	};
	s->flows = f;
}

void llm_sched_remove_flow(struct llm_sched *s, struct llm_flow *f)
{
	assert(!f->head && !f->running);
	for (struct llm_flow **p = &s->flows; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			return;
		}
}

struct llm_flow *llm_sched_find_flow(struct llm_sched *s, uint32_t id)
{
	for (struct llm_flow *f = s->flows; f; f = f->next)
		if (f->id == id)
			return f;
	return NULL;
}

void llm_sched_enqueue(struct llm_sched *s, struct llm_flow *f,
		       struct llm_job *j, uint64_t est)
{
	(void)s;
	assert(!j->queued && !j->running);
	j->flow = f;
	j->est = est ? est : 1;
	j->next = NULL;
	j->queued = true;
	if (f->tail)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
	f->queued++;
}

void llm_sched_requeue(struct llm_sched *s, struct llm_job *j,
		       uint64_t ready_at_ms)
{
	struct llm_flow *f = j->flow;

	assert(j->running);
	j->running = false;
	f->running--;
	s->running--;
	/* The failed attempt used no tokens: give back what dispatch took. */
	f->finish -= (double)j->est / f->weight;
	if (s->tokens.per_minute)
		s->tokens.level += (double)j->est;
	j->ready_at_ms = ready_at_ms;
	j->queued = true;
	j->next = f->head;
	f->head = j;
	if (!f->tail)
		f->tail = j;
	f->queued++;
}

void llm_sched_unqueue(struct llm_sched *s, struct llm_job *j)
{
	struct llm_flow *f = j->flow;
	struct llm_job *prev = NULL;

	(void)s;
	if (!j->queued)
		return;
	for (struct llm_job *i = f->head; i; prev = i, i = i->next) {
		if (i != j)
			continue;
		if (prev)
			prev->next = j->next;
		else
			f->head = j->next;
		if (f->tail == j)
			f->tail = prev;
		break;
	}
	j->next = NULL;
	j->queued = false;
	f->queued--;
}

static double start_tag(const struct llm_sched *s, const struct llm_flow *f)
{
	return f->finish > s->vtime ? f->finish : s->vtime;
}

/* The flow whose head goes next, ignoring the limits; *ret_wake_ms is
 * lowered to the earliest backoff end among heads not yet ready. */
static struct llm_flow *pick(struct llm_sched *s, uint64_t now_ms,
			     uint64_t *ret_wake_ms)
{
	struct llm_flow *best = NULL;
	double best_tag = 0;

	for (struct llm_flow *f = s->flows; f; f = f->next) {
		if (!f->head)
			continue;
		if (f->head->ready_at_ms > now_ms) {
			if (f->head->ready_at_ms < *ret_wake_ms)
				*ret_wake_ms = f->head->ready_at_ms;
			continue;
		}
		double tag = start_tag(s, f);
		if (!best || f->priority > best->priority ||
		    (f->priority == best->priority &&
		     (tag < best_tag ||
		      (tag == best_tag && f->id < best->id)))) {
			best = f;
			best_tag = tag;
		}
	}
	return best;
}

struct llm_job *llm_sched_next(struct llm_sched *s, uint64_t now_ms,
			       uint64_t *ret_wake_ms)
{
	uint64_t wake = UINT64_MAX;

	*ret_wake_ms = UINT64_MAX;
	if (s->running >= s->concurrency)
		return NULL;
	struct llm_flow *f = pick(s, now_ms, &wake);
	if (!f) {
		*ret_wake_ms = wake;
		return NULL;
	}
	struct llm_job *j = f->head;
	bucket_refill(&s->requests, now_ms);
	bucket_refill(&s->tokens, now_ms);
	uint64_t wait = bucket_wait(&s->requests, 1.0);
	uint64_t wait_t = bucket_wait(&s->tokens, (double)j->est);
	if (wait_t > wait)
		wait = wait_t;
	if (wait) {
		/* The best job waits for the buckets; no other job may take
		 * its turn (that would make the limits unfair). */
		*ret_wake_ms = now_ms + wait < wake ? now_ms + wait : wake;
		return NULL;
	}

	double tag = start_tag(s, f);
	s->vtime = tag;
	f->finish = tag + (double)j->est / f->weight;
	if (s->requests.per_minute)
		s->requests.level -= 1.0;
	if (s->tokens.per_minute)
		s->tokens.level -= (double)j->est;

	f->head = j->next;
	if (!f->head)
		f->tail = NULL;
	f->queued--;
	j->next = NULL;
	j->queued = false;
	j->running = true;
	f->running++;
	s->running++;
	return j;
}

/* Puts back what dispatch took from b (never past its cap). */
static void bucket_refund(struct llm_bucket *b, double cost)
{
	if (!b->per_minute)
		return;
	b->level += cost;
	if (b->level > bucket_cap(b))
		b->level = bucket_cap(b);
}

void llm_sched_refuse(struct llm_sched *s, struct llm_job *j)
{
	struct llm_flow *f = j->flow;

	assert(j->running);
	j->running = false;
	f->running--;
	s->running--;
	f->finish -= (double)j->est / f->weight;
	bucket_refund(&s->requests, 1.0);
	bucket_refund(&s->tokens, (double)j->est);
}

void llm_sched_done(struct llm_sched *s, struct llm_job *j, uint64_t tokens,
		    uint64_t now_ms)
{
	struct llm_flow *f = j->flow;

	assert(j->running);
	j->running = false;
	f->running--;
	s->running--;
	double diff = (double)tokens - (double)j->est;
	f->finish += diff / f->weight;
	if (s->tokens.per_minute) {
		bucket_refill(&s->tokens, now_ms);
		s->tokens.level -= diff;
		if (s->tokens.level > bucket_cap(&s->tokens))
			s->tokens.level = bucket_cap(&s->tokens);
	}
}
