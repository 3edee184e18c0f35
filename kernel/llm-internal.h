/* SPDX-License-Identifier: MIT */
/*
 * The llm module's private structures, shared by its files: llm.c (calls:
 * queue, dispatch, cancel, timeouts, retries), llm-result.c (what workers
 * send back, turned into replies), llm-flow.c (per-caller flows and usage,
 * the workers' environment, status). Nothing outside the module includes
 * this.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "caller.h"
#include "llm-sched.h"
#include "llm-worker.h"
#include "llm.h"
#include "loop.h"

/* A caller's flow and what the kernel keeps of it. Agents' flows live as
 * long as the agent record (LIST shows their usage); operators' go once
 * idle. */
struct llm_caller_flow {
	struct llm_flow flow;
	/* Calls holding the flow. */
	unsigned refs;
	bool agent;
	/* The agent record is gone: free once idle. */
	bool forgotten;
};

struct llm_call {
	struct llm_call *prev, *next;
	struct llm *l;
	/* NULL once answered. */
	struct request *req;
	struct caller caller;
	struct llm_caller_flow *flow;
	struct llm_job job;
	uint64_t id;
	/* The `think` map sent to workers. */
	json_t *msg;
	/* The worker it runs on, -1 when none. */
	int worker;
	/* One for the request, one while the timer is armed. */
	unsigned refs;
	unsigned retries;
	bool lost_retried;
	bool cancelled;
	bool stream;
	/* The prompt's estimated tokens, and the bytes of text streamed so
	 * far: what a call stopped before its result is charged. */
	uint64_t prompt_est;
	uint64_t streamed_bytes;
	uint64_t started_ms, deadline_ms;
	/* Monotonic ns: arrival and the last hand-over to a worker, for the
	 * reply's kernel_us. */
	uint64_t started_ns, sent_ns;
	char timeout_text[32];
	/* The deadline; after a cancel, the (dropped) answer. */
	struct loop_timer timer;
};

struct llm {
	struct kernel *k;
	struct llm_pool *pool;
	char **envp;
	struct llm_sched sched;
	struct llm_call *calls;
	unsigned ncalls;
	uint64_t next_id;
	char provider[16];
	char model[128];
	/* Kernel-wide totals (flows come and go). */
	struct llm_usage usage;
	struct loop_timer wake;
	uint64_t wake_at;
	bool dispatching;
};

/* llm.c */
/* CLOCK_MONOTONIC in ns. */
uint64_t llm_now_ns(void);
struct llm_call *llm_call_find(struct llm *l, uint64_t id);
/* The call's job ended having used tokens: slot and worker freed. */
void llm_call_done(struct llm *l, struct llm_call *c, uint64_t tokens);
/* Requeues a running call after a retryable failure; false when the retry
 * budget or the deadline is spent. */
bool llm_call_retry(struct llm *l, struct llm_call *c, int64_t retry_after_ms);
void llm_call_reply(struct llm *l, struct llm_call *c, json_t *reply);
void llm_call_error(struct llm *l, struct llm_call *c, int err, json_t *extra,
		    const char *text);

/* llm-result.c: a worker's `chunk` or `result` (pool ops). */
void llm_on_message(void *data, unsigned worker, json_t *msg);

/* llm-flow.c */
/* The caller's flow, made on first use (weight and priority from SPAWN);
 * pinned until llm_flow_put(). NULL on ENOMEM. */
struct llm_caller_flow *llm_flow_get(struct llm *l, const struct caller *c);
void llm_flow_put(struct llm *l, struct llm_caller_flow *f);
void llm_flows_free(struct llm *l);
uint64_t llm_usage_tokens(const struct llm_usage *u);
double llm_cost(const struct llm *l, uint64_t tokens);
/* The workers' environment: the allow-list of docs/llm.md. */
int llm_env_build(struct kernel *k, char ***ret);
