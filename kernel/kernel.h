/* SPDX-License-Identifier: MIT */
/*
 * The kernel context: configuration, the loop, the listening server, the
 * agent table and the one id counter that both agents and operator
 * connections draw from (so an id always names exactly one caller).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"

struct loop;
struct server;
struct agents;
struct conn;
struct sandbox_context;
struct shm_hub;
struct perm_policy;
struct cgroup_manager;
struct hub;
struct llm;

struct kernel {
	struct config cfg;
	struct loop *loop;
	struct server *server;
	struct agents *agents;
	/* What every agent sandbox shares (sandbox.h). */
	struct sandbox_context *sandbox;
	/* What operator connections may do (perm.h); unrestricted unless
	 * configured. */
	struct perm_policy *operator_policy;
	/* Agents' cgroups; NULL when the host offers none (agent-cgroup.c). */
	struct cgroup_manager *cgroups;
	/* Mailboxes, state store, events, audit, recording (hub.h). */
	struct hub *hub;
	/* Every connection, operator's or agent's (conn.c owns the list). */
	struct conn *conns;
	/* The shared-memory fast path's attachments (shm-hub.c). */
	struct shm_hub *shm_hub;
	/* THINK: scheduler, calls and the llm_worker pool (llm.h). */
	struct llm *llm;
	uint32_t next_id;
	uint64_t started_ms;
	/* Shutdown: waits for the last replies to leave. */
	struct loop_timer drain_timer;
	unsigned drain_ticks;
	unsigned nconns;
	bool shutting_down;
};

/* Next caller id: 1, 2, 3, ... shared by agents and connections. */
uint32_t kernel_next_id(struct kernel *k);

/* Begins an orderly shutdown: stop agents (grace, then kill), then quit. */
void kernel_shutdown(struct kernel *k);
