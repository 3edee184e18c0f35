/* SPDX-License-Identifier: MIT */
/*
 * The llm_worker pool: N Python processes (`<python> -m llm_worker`) that
 * make the provider calls, speaking docs/llm.md's framed protocol on their
 * stdin and stdout. The pool starts them (lazily: on the first call, so a
 * kernel that never thinks never starts Python), waits for their `ready`,
 * supervises them through pidfd polls, reads and writes their pipes through
 * the loop, and restarts a dead one with backoff. It knows nothing of
 * requests: the owner (llm.c) sends maps and receives maps through ops.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct kernel;
struct llm_pool;

#define LLM_POOL_MAX_WORKERS 16

struct llm_pool_ops {
	/* A worker sent a `chunk` or `result` map (borrowed). */
	void (*message)(void *data, unsigned worker, json_t *msg);
	/* Worker `worker` died or was killed: the calls sent to it will get no
	 * result. why is for humans. */
	void (*lost)(void *data, unsigned worker, const char *why);
	/* A worker became ready: queued work may go. */
	void (*ready)(void *data);
	/* No worker could start since the last ready one (why: the last
	 * failure, e.g. "exited with status 1 before ready"): calls waiting
	 * for a worker should fail now rather than hang. */
	void (*unavailable)(void *data, const char *why);
};

struct llm_pool_params {
	const char *python;
	unsigned workers;
	/* "KEY=value" entries, the whole environment of a worker (copied). */
	char *const *envp;
};

int llm_pool_new(struct kernel *k, const struct llm_pool_params *p,
		 const struct llm_pool_ops *ops, void *data,
		 struct llm_pool **ret);
/* Kills the workers; the pool is freed once their operations drain (or at
 * once when the loop is gone). */
void llm_pool_free(struct llm_pool *pool);

/* Shutdown: kills the workers and restarts none. */
void llm_pool_stop(struct llm_pool *pool);

/* Starts the workers that are not running (first use). */
void llm_pool_start(struct llm_pool *pool);

/* Sends msg (borrowed) to the ready worker with the fewest calls.
 * Returns the worker's index, -EAGAIN when none is ready yet, or -errno. */
int llm_pool_send(struct llm_pool *pool, const json_t *msg);
/* Sends msg to one worker (cancel); -ESRCH when it is not ready. */
int llm_pool_send_to(struct llm_pool *pool, unsigned worker,
		     const json_t *msg);
/* A call sent to worker has ended (its result came, or it was cancelled). */
void llm_pool_call_done(struct llm_pool *pool, unsigned worker);

/* True if a worker is ready; the last start failure (or NULL) else. */
bool llm_pool_ready(const struct llm_pool *pool);
const char *llm_pool_error(const struct llm_pool *pool);
/* True while every worker's last start attempt failed before `ready`. */
bool llm_pool_unavailable(const struct llm_pool *pool);

/* {workers, started, ready, restarts, pids[], error?} for HELLO. */
json_t *llm_pool_json(const struct llm_pool *pool);
