/* SPDX-License-Identifier: MIT */
/*
 * The LLM scheduler: which THINK goes to a worker next. Pure — no I/O, no
 * clock of its own (every call is given "now" in monotonic ms), no
 * allocation — so it is unit-tested on its own (tests/unit/test-llm-sched.c).
 *
 * Each caller has a flow (a FIFO of jobs). Flows are served by start-time
 * fair queuing (SFQ) on tokens: a flow's head job gets the start tag
 * max(vtime, flow->finish); the job with the smallest tag among the flows
 * of the highest priority that have a ready head goes next; dispatching it
 * sets vtime to its tag and advances the flow's finish tag by
 * estimate / weight. When the job completes, the difference between the
 * real token count and the estimate is charged to the flow's finish tag,
 * so an agent that under-declares pays it back on its next job.
 * Priorities are strict classes: a lower class waits while a higher one
 * has a ready job.
 *
 * Dispatch is also gated by a concurrency limit and two token buckets (requests
 * and tokens per minute; 0 = unlimited). A bucket holds at most one
 * second's worth (at least one request or one job's estimate) and may go
 * into debt by a job's estimate, so a job larger than the bucket still goes
 * once the bucket is full, and a burst never exceeds a second's share.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Weights are 1..LLM_WEIGHT_MAX, priorities 0..LLM_PRIORITY_MAX. */
#define LLM_WEIGHT_MAX 1000
#define LLM_PRIORITY_MAX 9

struct llm_flow;

/* A job: one THINK while the scheduler holds it. The owner embeds it. */
struct llm_job {
	struct llm_job *next;
	struct llm_flow *flow;
	/* Estimated tokens (prompt bytes / 4 + max_tokens); what dispatch
	 * charged until the real count is known. */
	uint64_t est;
	/* Not dispatched before (a retry's backoff). */
	uint64_t ready_at_ms;
	bool queued;
	bool running;
};

struct llm_usage {
	uint64_t calls;
	uint64_t errors;
	uint64_t prompt_tokens;
	uint64_t completion_tokens;
	/* LLM_REPORT's tokens: used outside the kernel, counted in totals. */
	uint64_t reported_tokens;
};

/* One caller's queue and accounting. The owner embeds it and keeps it
 * alive while it has jobs. */
struct llm_flow {
	struct llm_flow *next;
	uint32_t id;
	unsigned weight;
	unsigned priority;
	/* Virtual finish tag of the last dispatched job. */
	double finish;
	struct llm_job *head, *tail;
	unsigned queued;
	unsigned running;
	struct llm_usage usage;
};

struct llm_bucket {
	/* 0: unlimited. */
	uint64_t per_minute;
	double level;
	uint64_t last_ms;
};

struct llm_sched {
	struct llm_flow *flows;
	double vtime;
	unsigned concurrency;
	unsigned running;
	struct llm_bucket requests;
	struct llm_bucket tokens;
};

/* concurrency 0 means 1; rpm and tpm 0 mean unlimited. Buckets start
 * full. */
void llm_sched_init(struct llm_sched *s, unsigned concurrency, uint64_t rpm,
		    uint64_t tpm, uint64_t now_ms);

/* Adds f (weight 1..LLM_WEIGHT_MAX, priority 0..LLM_PRIORITY_MAX; out of
 * range values are clamped) to s. */
void llm_sched_add_flow(struct llm_sched *s, struct llm_flow *f, uint32_t id,
			unsigned weight, unsigned priority);
/* Removes f, which must have no job queued or running. */
void llm_sched_remove_flow(struct llm_sched *s, struct llm_flow *f);
struct llm_flow *llm_sched_find_flow(struct llm_sched *s, uint32_t id);

/* Appends j (not queued, not running) to f's queue. */
void llm_sched_enqueue(struct llm_sched *s, struct llm_flow *f,
		       struct llm_job *j, uint64_t est);
/* A running job failed in a way worth retrying: its charge is refunded and
 * it goes back to the head of its flow (it was the flow's oldest), not
 * before ready_at_ms; its flow's later jobs wait behind it, so a retry
 * never overtakes the flow's own order nor other flows' fair share. */
void llm_sched_requeue(struct llm_sched *s, struct llm_job *j,
		       uint64_t ready_at_ms);
/* Takes a queued job out (cancelled before dispatch). */
void llm_sched_unqueue(struct llm_sched *s, struct llm_job *j);

/* The next job to dispatch, marked running and charged; or NULL, and
 * *ret_wake_ms says when to ask again (a bucket refills, a backoff ends;
 * UINT64_MAX: only a completion or a new job can change the answer). */
struct llm_job *llm_sched_next(struct llm_sched *s, uint64_t now_ms,
			       uint64_t *ret_wake_ms);

/* A job llm_sched_next() just returned never reached the provider (its
 * caller is over quota, no worker took it): everything dispatch took is
 * given back — the flow's finish tag and both buckets, the request token
 * included — and the job is neither queued nor running; the caller answers
 * it. So a refused flow neither eats the request rate nor keeps the
 * smallest tag. */
void llm_sched_refuse(struct llm_sched *s, struct llm_job *j);
/* A running job ended, having used tokens (0 when it failed before the
 * provider counted any): the flow's finish tag and the token bucket are
 * corrected by tokens - estimate. */
void llm_sched_done(struct llm_sched *s, struct llm_job *j, uint64_t tokens,
		    uint64_t now_ms);
