/* SPDX-License-Identifier: MIT */
/*
 * The agent module's private structures, shared by its files: agent.c
 * (lifecycle: supervision, restart, kill, pause), agent-start.c (starting
 * the process), agent-table.c (lookup, history, reference counts) and
 * agent-json.c (LIST). Nothing outside the agent module includes this.
 *
 * Lifetime: the table holds one reference on each record it lists; every
 * loop operation in flight (the pidfd poll, the restart and kill timers)
 * holds one more, and is also counted in the table's ops_pending, so that
 * a record evicted from history, or a table freed at shutdown, stays valid
 * until its last completion has run.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "loop.h"
#include "restart.h"

struct kernel;
struct conn;
struct sandbox_spec;
struct agent_cgroup;
struct proc_spec;

struct agent {
	struct kernel *k;
	/* Valid for as long as the record is; see agents_free(). */
	struct agents *table;
	unsigned refs;
	uint32_t id;
	uint32_t parent_id;
	/* Parent first, then its parent, ...; at most AGENT_MAX_DEPTH. */
	uint32_t *ancestors;
	unsigned nancestors;
	char name[AGENT_NAME_MAX + 1];

	/* Owned copy of the spawn request (restarts reuse it). */
	char *python;
	char *script;
	char **args;
	char **env;
	struct agent_spec spec;

	enum agent_state state;
	pid_t pid;
	int pidfd;
	/* Of the last process that ended: exit code (-1: none), signal. */
	int exit_code;
	int signal;
	/* Why it ended (agent_cgroup_exit_reason()); NULL while it runs. */
	const char *exit_reason;
	/* Its cgroup and what LIST says of it (agent-cgroup.c). */
	struct agent_cgroup *cgroup;
	unsigned restarts;
	double started_at;
	uint64_t started_ms;
	uint64_t ended_ms;
	char *log_path;
	char *work_dir;
	/* Sandboxed agents: the sandbox, built at the first start and kept
	 * for restarts; the read end of the pipe on which its PID 1 reports
	 * the agent's real exit status (-EBADF when no process runs). */
	struct sandbox_spec *sandbox;
	int status_fd;
	/* Owned; see agent_set_policy(). */
	struct perm_policy *policy;
	struct conn *conn;
	struct restart_budget budget;

	struct loop_op exit_op;
	bool exit_armed;
	struct loop_timer restart_timer;
	struct loop_timer kill_timer;
	/* agent-memwatch.c: the once-a-second memory check, and whether the
	 * last crossing above 90% was reported. */
	struct loop_timer mem_timer;
	bool mem_warned;
	bool kill_requested;
	bool term_sent;
	/* Monotonic ms at which SIGKILL follows SIGTERM (the earliest of
	 * every KILL's and the shutdown's). */
	uint64_t kill_deadline_ms;
	struct agent_waiter *waiters;

	/* Table links. */
	bool listed;
	bool ended;
	struct agent *id_next;
	struct agent *name_next;
	struct agent *prev;
	struct agent *next;
	struct agent *hist_next;
};

#define AGENTS_BUCKETS 1024u

struct agents {
	struct kernel *k;
	struct agent *by_id[AGENTS_BUCKETS];
	/* Live agents only. */
	struct agent *by_name[AGENTS_BUCKETS];
	/* Every listed record, in id order. */
	struct agent *first;
	struct agent *last;
	/* Ended records, oldest first. */
	struct agent *hist_head;
	struct agent *hist_tail;
	unsigned nhist;
	unsigned nlive;
	unsigned ntotal;
	unsigned ops_pending;
	bool stopping;
	/* agents_free() ran while operations were still in flight. */
	bool freed;
	void (*stop_done)(struct kernel *k);
};

/* agent-table.c */
void agent_strv_free(char **v);
struct agent *agent_ref(struct agent *a);
void agent_unref(struct agent *a);
/* Takes the table's reference on a; a must not be listed yet. */
void agents_insert(struct agents *t, struct agent *a);
/* a has ended: its name is free again and it joins the history (the
 * oldest ended records beyond AGENT_HISTORY are dropped). */
void agents_retire(struct agents *t, struct agent *a);
/* Before submitting / after the final completion of a loop op of a. */
void agent_op_begin(struct agent *a);
void agent_op_end(struct agent *a);
/* Calls the stop_all callback when nothing is alive or in flight. */
void agents_check_stopped(struct agents *t);

/* agent-start.c */
/* Starts a's process (first start or restart); on failure err says what
 * failed. On success a is running and supervised. */
int agent_start(struct agent *a, char *err, size_t errlen,
		struct proc_failure *ret_fail);
/* Arms the pidfd poll. */
int agent_watch(struct agent *a);

/* agent-memwatch.c */
/* After a start: watches a's memory when its cgroup enforces a limit. */
void agent_memwatch_start(struct agent *a);
/* Its process ended. */
void agent_memwatch_stop(struct agent *a);

/* agent-sandbox.c */
/* Before each start: checks what a sandboxed parent may give its child
 * (first start), builds a's sandbox (first start) and arms it for this
 * start (status pipe, network namespace). */
int agent_sandbox_prepare(struct agent *a, char *err, size_t errlen);
/* After each start: drops the parent's copies of what the child took. */
void agent_sandbox_started(struct agent *a);
/* agent-cgroup.c */
/* Creates a's cgroup on its first start (limits applied) and points ps at
 * it; reads the counters the exit reason is measured from. */
int agent_cgroup_prepare(struct agent *a, struct proc_spec *ps, char *err,
			 size_t errlen);
/* "killed", "oom", "pids", "signal" or "exited" for the process that just
 * ended (exit_code/signal set). */
const char *agent_cgroup_exit_reason(struct agent *a);
/* a's cgroup; NULL when it has none (no cgroups, or released). */
struct cgroup *agent_cgroup_cg(struct agent *a);
/* cgroup.kill: every process of a, descendants that left its process
 * group included. -EOPNOTSUPP without a cgroup. */
int agent_cgroup_kill(struct agent *a);
/* Freezes or thaws a's cgroup; w (may be NULL) is called once frozen
 * (or given up on), possibly before this returns. -EOPNOTSUPP without a
 * freezer: the caller falls back to SIGSTOP/SIGCONT. */
int agent_cgroup_freeze(struct agent *a, bool frozen, struct agent_waiter *w);
/* The process ended: thaw a paused cgroup, answer PAUSE waiters. */
void agent_cgroup_ended(struct agent *a);
/* The agent ended for good: kill what is left, remove the cgroup. */
void agent_cgroup_release(struct agent *a);
void agent_cgroup_free(struct agent *a);
