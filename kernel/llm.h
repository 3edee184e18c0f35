/* SPDX-License-Identifier: MIT */
/*
 * LLM access in the kernel: THINK calls from their validated request to
 * their reply, through the scheduler (llm-sched.h: fair queuing, priority,
 * concurrency and rate limits), quotas, timeouts, retries and the worker
 * pool (llm-worker.h). sys-llm.c validates requests; this module owns the
 * calls, the per-caller flows (usage accounting) and the pool.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct kernel;
struct request;
struct llm;

/* Retries of a call the provider failed with retryable (429, 5xx). */
#define LLM_MAX_RETRIES 3
#define LLM_DEFAULT_TIMEOUT_S 120.0
#define LLM_MAX_TIMEOUT_S 3600.0
/* Estimated completion tokens when the request sets no max_tokens. */
#define LLM_DEFAULT_COMPLETION_EST 512
/* Calls queued or running at once, over all callers. */
#define LLM_MAX_CALLS 4096

/* SPAWN's llm {weight, priority} for agent ids; kept by the agent record
 * and read when its flow is made. */
struct llm_agent_params {
	unsigned weight;
	unsigned priority;
};

/* From config; the pool is created here, its workers on the first THINK. */
int llm_new(struct kernel *k, struct llm **ret);
/* Shutdown: queued calls fail with ESHUTDOWN, workers are killed. */
void llm_shutdown(struct kernel *k);
/* After the loop is freed: everything goes, no reply is sent. */
void llm_free(struct llm *l);

/* A validated THINK (sys-llm.c). */
struct llm_think {
	/* The worker's "request" map (docs/llm.md); stolen. */
	json_t *request;
	const char *model;
	bool stream;
	uint64_t est_tokens;
	/* The prompt's part of est_tokens (text bytes / 4, an image): what
	 * a call stopped before its result is charged at least. */
	uint64_t est_prompt_tokens;
	uint64_t timeout_ms;
};

/* Takes req: answered when the call ends, fails, times out or is refused
 * (EDQUOT, the pool cannot start). */
void llm_think(struct request *req, struct llm_think *t);

/* LLM_REPORT: tokens the caller used elsewhere count in its usage (and
 * towards its llm.max_tokens). Returns the caller's new token total. */
struct caller;
uint64_t llm_report(struct kernel *k, const struct caller *c, uint64_t tokens);

/* LIST's "llm" of an agent: {calls, errors, prompt_tokens,
 * completion_tokens, reported_tokens, total_tokens, cost_usd, queued,
 * in_flight, weight, priority}; NULL when it never thought. */
json_t *llm_usage_json(struct kernel *k, uint32_t id);
/* The same for LIST, with the agent's SPAWN params and zeros when it never
 * thought. */
json_t *llm_agent_json(struct kernel *k, uint32_t id,
		       const struct llm_agent_params *p);
/* HELLO's kernel.llm: provider, model, workers, the kernel-wide usage. */
json_t *llm_status_json(struct kernel *k);
/* An agent record, or an operator's connection, is gone: its flow goes
 * once idle. */
void llm_forget(struct kernel *k, uint32_t id);

