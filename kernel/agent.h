/* SPDX-License-Identifier: MIT */
/*
 * Agents: the table of live and recently ended agents, their lifecycle
 * (spawn, supervise through the pidfd, restart with backoff, kill with a
 * grace period, pause, resume) and their JSON description for LIST.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "llm.h"

struct kernel;
struct agent;
struct agents;
struct sandbox_spec;
struct proc_failure;
struct perm_policy;

/* Names are 1..AGENT_NAME_MAX of [A-Za-z0-9._-]. */
#define AGENT_NAME_MAX 64

/* True when name follows that rule (SPAWN's name, REGISTER's). */
bool agent_name_valid(const char *name);
/* Ended agents LIST still shows; older ones are forgotten. */
#define AGENT_HISTORY 256
/* How deep agents may spawn agents (each record keeps its ancestors). */
#define AGENT_MAX_DEPTH 64

enum agent_state {
	AGENT_RUNNING,
	AGENT_PAUSED,
	AGENT_RESTARTING,
	AGENT_EXITED,
	AGENT_FAILED,
	AGENT_KILLED,
};

int agents_new(struct kernel *k, struct agents **ret);
/* Frees the table, normally after agents_stop_all() has finished. Agents
 * still alive get SIGKILL; while the loop exists their connections are also
 * shut and KILL waiters answered. Records with loop operations in flight
 * outlive the call until those complete. */
void agents_free(struct agents *t);

struct agent *agents_find_id(struct agents *t, uint32_t id);
/* Live agents only (names are unique among live agents). */
struct agent *agents_find_name(struct agents *t, const char *name);

uint32_t agent_id(const struct agent *a);
uint32_t agent_parent_id(const struct agent *a);
const char *agent_name(const struct agent *a);
enum agent_state agent_state(const struct agent *a);
bool agent_alive(const struct agent *a);
/* True if ancestor_id is a's parent, grandparent, ... */
bool agents_is_descendant(struct agents *t, const struct agent *a,
			  uint32_t ancestor_id);

/* The oldest ancestor's id (kept even after it left the table), or a's
 * own id when an operator spawned it. */
uint32_t agent_root_id(const struct agent *a);
/* Calls fn for every live agent, in id order; fn must not spawn or end
 * agents. */
void agents_foreach_live(struct agents *t,
			 void (*fn)(struct agent *a, void *data), void *data);

unsigned agents_count_running(struct agents *t);
unsigned agents_count_total(struct agents *t);

/* The kernel's cgroup manager (k->cgroups): set up at start, sweeping the
 * leftovers of a kernel that died (logs what it found; without cgroups
 * agents run unlimited and the log says why: -errno); detached from the
 * loop before the loop is freed; freed (waiting a little for the last
 * cgroups to empty) after the agent table. */
int agents_cgroup_init(struct kernel *k);
void agents_cgroup_detach(struct kernel *k);
void agents_cgroup_done(struct kernel *k);

/* Stops every agent (SIGTERM, SIGKILL after grace_ms); calls done(k) once
 * none is alive (at once if none is). */
void agents_stop_all(struct agents *t, unsigned grace_ms,
		     void (*done)(struct kernel *k));

enum agent_restart_policy {
	AGENT_RESTART_NEVER,
	AGENT_RESTART_ALWAYS,
	AGENT_RESTART_ON_FAILURE,
};

/* Requested resource limits, -1 when not given; enforced through the
 * agent's cgroup (agent-cgroup.c, cgroup.h), as far as the host allows.
 * tmp_size is the size of a sandboxed agent's /tmp and /dev/shm tmpfs. */
struct agent_limits {
	int64_t memory;
	int64_t max_pids;
	int64_t cpu_quota;
	int64_t cpu_period;
	int64_t cpu_shares;
	int64_t tmp_size;
};

/* What to run; agents_spawn() copies it, restarts reuse the copy. */
struct agent_spec {
	/* NULL: "agent-<id>". Must be valid (see AGENT_NAME_MAX). */
	const char *name;
	/* Interpreter: a path, or a name looked up in PATH. */
	const char *python;
	/* Absolute path of the script. */
	const char *script;
	const char *const *args;
	size_t nargs;
	/* "KEY=value" entries, added to the kernel's environment. */
	const char *const *env;
	size_t nenv;
	enum agent_restart_policy restart_policy;
	unsigned max_restarts;
	uint64_t restart_window_ms;
	unsigned restart_backoff_ms;
	bool sandboxed;
	bool network;
	struct agent_limits limits;
	/* SPAWN's llm {weight, priority} (llm.h). */
	struct llm_agent_params llm;
};

/*
 * Starts a new agent: record, work directory, log file, socketpair (the
 * kernel's end becomes its connection), sandbox, process, supervision.
 * parent_id is the spawning agent's id, 0 for operators. On success *ret is
 * the running agent (borrowed: the table owns it). Errors: -EEXIST (name
 * taken by a live agent), -EAGAIN (too many live agents, or nested too
 * deep), -EACCES (a sandboxed parent asked for more than it has), -ENOENT
 * and others from starting the process; err then says what failed and, if
 * a step of the child failed, ret_fail (may be NULL) which one.
 */
int agents_spawn(struct agents *t, const struct agent_spec *spec,
		 uint32_t parent_id, struct agent **ret, char *err,
		 size_t errlen, struct proc_failure *ret_fail);

/* Live or ended, newest first: for a name that no live agent has. */
struct agent *agents_find_name_recent(struct agents *t, const char *name);

/* Someone waiting for an agent to end (KILL with wait). fn runs exactly
 * once, when the agent has ended or the table is freed; it may free w. */
struct agent_waiter {
	struct agent_waiter *next;
	void (*fn)(struct agent_waiter *w, struct agent *a);
};

/*
 * KILL: marks a never to be restarted, sends SIGTERM to its process group
 * (and SIGCONT if paused), and SIGKILL after grace_ms (0: SIGKILL at once).
 * A restarting agent becomes killed at once. w (may be NULL) is linked
 * until a ends and then called; that may happen before agent_kill returns.
 * Returns 0, or -ESRCH if a is not alive (w is then not taken).
 */
int agent_kill(struct agent *a, unsigned grace_ms, struct agent_waiter *w);
/* PAUSE freezes a's cgroup (cgroup.freeze), or without a freezer sends
 * SIGSTOP to its process group; w (may be NULL) is called once the freezer
 * reports it frozen (or gave up), possibly before agent_pause returns.
 * RESUME thaws (SIGCONT). -ESRCH unless running / paused. */
int agent_pause(struct agent *a, struct agent_waiter *w);
int agent_resume(struct agent *a);
/* 1 when a's cgroup is frozen, 0 if not, -EOPNOTSUPP without a freezer. */
int agent_frozen(const struct agent *a);

pid_t agent_pid(const struct agent *a);
/* The LLM scheduling weight and priority SPAWN gave a. */
const struct llm_agent_params *agent_llm_params(const struct agent *a);
const char *agent_log_path(const struct agent *a);
enum agent_restart_policy agent_restart_policy(const struct agent *a);
/* Of the last process that ended: exit code or -1, signal or 0. */
int agent_exit_code(const struct agent *a);
int agent_signal(const struct agent *a);
bool agent_kill_requested(const struct agent *a);
/* Why the last process ended: "exited", "signal", "killed", "oom" (an OOM
 * kill in its cgroup), "pids" (a fork refused at max_pids); NULL while it
 * runs or before it ran. */
const char *agent_exit_reason(const struct agent *a);

/* The agent's cgroup, for EXEC to run its commands inside — use both: the
 * v2 directory fd to clone into (CLONE_INTO_CGROUP) or -EBADF, and the
 * cgroup.procs fds the child writes "0" into (count returned; see
 * cgroup_clone_fd()). Valid while the agent is alive. */
int agent_cgroup_fd(const struct agent *a);
size_t agent_cgroup_procs_fds(const struct agent *a, const int **ret);
/* isolation.cgroup of SPAWN and LIST (a new reference; JSON null when the
 * agent has no cgroup and asked for no limits). */
json_t *agent_cgroup_json(const struct agent *a);

/* The agent's permission policy (perm-policy.h), kept across restarts;
 * NULL until SPAWN has set it. */
const struct perm_policy *agent_policy(const struct agent *a);
/* The limits the agent was spawned with (negative = none), for its
 * children. */
const struct agent_limits *agent_limits(const struct agent *a);
/* Takes ownership of p and frees the policy it replaces. */
void agent_set_policy(struct agent *a, struct perm_policy *p);

const char *agent_state_name(enum agent_state s);
const char *agent_restart_policy_name(enum agent_restart_policy p);

/* LIST's description of one agent, and the array of all, by id: the live
 * ones and the AGENT_HISTORY that ended most recently. NULL on ENOMEM. */
json_t *agent_to_json(const struct agent *a);
json_t *agents_to_json(struct agents *t);
/* SPAWN's and LIST's "isolation": what is in force for a (new reference;
 * NULL on ENOMEM). */
json_t *agent_isolation_json(const struct agent *a);

/* a's sandbox, NULL if a is not sandboxed. EXEC from a runs in it
 * (sandbox_spec_join with agent_pidfd). */
const struct sandbox_spec *agent_sandbox(const struct agent *a);
/* pidfd of a's process (its PID 1 when sandboxed), or -EBADF. */
int agent_pidfd(const struct agent *a);
/* The sandbox whose view limits what a may give its children (their
 * script and interpreter, their network), or NULL when a is not sandboxed
 * or its policy is unrestricted (a may be NULL). */
const struct sandbox_spec *agent_sandbox_for_children(const struct agent *a);
