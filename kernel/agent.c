/* SPDX-License-Identifier: MIT */
/*
 * An agent's lifecycle: creating its record, noticing through its pidfd
 * that its process ended, applying its restart policy (backoff on a timer,
 * within a budget), KILL with a grace period on a timer, PAUSE and RESUME
 * of its process group, and stopping every agent at shutdown. Nothing here
 * blocks or waits: every wait is a loop operation, and each one pins the
 * record (agent-internal.h).
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-internal.h"
#include "conn.h"
#include "hub.h"
#include "kernel.h"
#include "log.h"
#include "macro.h"
#include "perm-policy.h"
#include "proc.h"
#include "sandbox.h"

static void agent_exited(struct loop_op *op, int res, uint32_t flags);
static void agent_restart_fired(struct loop_timer *t, int res);
static void agent_kill_fired(struct loop_timer *t, int res);

/* Sends sig to a's process group; the group outlives the leader's exit
 * until it is reaped, so this never hits an unrelated group. A sandboxed
 * agent's leader is its PID 1, which forwards catchable signals to the
 * whole namespace: those go to it alone, or the agent would get them
 * twice. SIGKILL, SIGSTOP and SIGCONT still go to the whole group. */
static void agent_signal_group(struct agent *a, int sig)
{
	bool to_init = a->sandbox && sig != SIGKILL && sig != SIGSTOP &&
		       sig != SIGCONT;

	if (a->pid <= 0)
		return;
	if (kill(to_init ? a->pid : -a->pid, sig) < 0 && errno != ESRCH)
		log_warn("agent %u (%s): kill(%s%d, SIG%s): %s", a->id, a->name,
			 to_init ? "" : "-", (int)a->pid, sigabbrev_np(sig),
			 strerror(errno));
}

/* SIGKILL to everything of a: its cgroup (descendants that left the
 * process group or called setsid included) and its process group. */
static void agent_kill_everything(struct agent *a)
{
	(void)agent_cgroup_kill(a);
	agent_signal_group(a, SIGKILL);
}

/* RESUME's and KILL's way out of PAUSE: thaw, or SIGCONT. */
static int agent_continue(struct agent *a)
{
	int r = agent_cgroup_freeze(a, false, NULL);

	if (r != -EOPNOTSUPP)
		return r;
	if (a->pid > 0 && kill(-a->pid, SIGCONT) < 0)
		return negative_errno();
	return 0;
}

static void agent_call_waiters(struct agent *a)
{
	while (a->waiters) {
		struct agent_waiter *w = a->waiters;

		a->waiters = w->next;
		w->next = NULL;
		w->fn(w, a);
	}
}

/* a will not run again: final state, waiters answered, into history. */
static void agent_end(struct agent *a, enum agent_state state)
{
	struct agents *t = a->table;

	agent_ref(a);
	a->state = state;
	if (!a->ended_ms)
		a->ended_ms = loop_now_ms();
	agent_cgroup_release(a);
	agent_call_waiters(a);
	if (a->listed && !a->ended)
		agents_retire(t, a);
	if (state == AGENT_FAILED)
		hub_agent_changed(a->k, a, HUB_AGENT_FAILED);
	hub_agent_changed(a->k, a, HUB_AGENT_ENDED);
	agent_unref(a);
	agents_check_stopped(t);
}

static bool agent_wants_restart(const struct agent *a)
{
	switch (a->spec.restart_policy) {
	case AGENT_RESTART_ALWAYS:
		return true;
	case AGENT_RESTART_ON_FAILURE:
		/* KILLed agents never get here: see agent_process_ended(). */
		return a->exit_code != 0 || a->signal != 0;
	case AGENT_RESTART_NEVER:
		break;
	}
	return false;
}

static void agent_schedule_restart(struct agent *a)
{
	uint64_t now = loop_now_ms(), delay;
	unsigned n;
	int r;

	if (!restart_budget_allows(&a->budget, now)) {
		log_warn(
			"agent %u (%s): more than %u restarts within %llu s; giving up",
			a->id, a->name, a->spec.max_restarts,
			(unsigned long long)(a->spec.restart_window_ms / 1000));
		agent_end(a, AGENT_FAILED);
		return;
	}
	n = restart_budget_recent(&a->budget, now) + 1;
	restart_budget_record(&a->budget, now);
	delay = restart_delay_ms(a->spec.restart_backoff_ms, n);
	r = loop_timer_arm(a->k->loop, &a->restart_timer, delay);
	if (r < 0) {
		log_error("agent %u (%s): cannot arm the restart timer: %s",
			  a->id, a->name, strerror(-r));
		agent_end(a, AGENT_FAILED);
		return;
	}
	agent_op_begin(a);
	a->state = AGENT_RESTARTING;
	log_info("agent %u (%s): restarting in %llu ms", a->id, a->name,
		 (unsigned long long)delay);
	hub_agent_changed(a->k, a, HUB_AGENT_RESTARTING);
}

static void agent_log_exit(const struct agent *a)
{
	if (a->signal)
		log_info("agent %u (%s): pid %d killed by SIG%s", a->id,
			 a->name, (int)a->pid, sigabbrev_np(a->signal));
	else
		log_info("agent %u (%s): pid %d exited with code %d", a->id,
			 a->name, (int)a->pid, a->exit_code);
}

/* The process has ended and been reaped (status in exit_code/signal). */
static void agent_process_ended(struct agent *a)
{
	struct agents *t = a->table;

	agent_log_exit(a);
	a->exit_reason = agent_cgroup_exit_reason(a);
	agent_cgroup_ended(a);
	a->pid = 0;
	if (a->pidfd >= 0)
		close(a->pidfd);
	a->pidfd = -EBADF;
	if (a->status_fd >= 0)
		close(a->status_fd);
	a->status_fd = -EBADF;
	a->ended_ms = loop_now_ms();
	/* Whatever the agent left behind holds the other end of this
	 * socket; shutting it stops that from acting as the agent. */
	if (a->conn) {
		conn_forget_agent(a->conn);
		conn_shutdown(a->conn);
		a->conn = NULL;
	}
	if (a->kill_timer.armed)
		(void)loop_timer_cancel(a->k->loop, &a->kill_timer);
	agent_memwatch_stop(a);
	hub_agent_changed(a->k, a, HUB_AGENT_EXITED);

	if (a->kill_requested)
		agent_end(a, AGENT_KILLED);
	else if (t->stopping || a->k->shutting_down || !agent_wants_restart(a))
		agent_end(a, AGENT_EXITED);
	else
		agent_schedule_restart(a);
}

static void agent_exited(struct loop_op *op, int res, uint32_t flags)
{
	struct agent *a = container_of(op, struct agent, exit_op);
	int code = -1, sig = 0, r;

	a->exit_armed = false;
	if (a->table->freed || a->pidfd < 0)
		goto out;
	/* Still a zombie, so its process group cannot have been reused:
	 * clean up whatever it left running before reaping it. */
	agent_kill_everything(a);
	r = proc_reap(a->pidfd, &code, &sig);
	if (r == -EAGAIN) {
		/* Spurious wake-up (or a cancelled poll): keep watching. */
		if (res != -ECANCELED && agent_watch(a) == 0)
			goto out;
		log_error("agent %u (%s): lost supervision of pid %d", a->id,
			  a->name, (int)a->pid);
		goto out;
	}
	if (r < 0) {
		log_error("agent %u (%s): reaping pid %d: %s", a->id, a->name,
			  (int)a->pid, strerror(-r));
		code = -1;
		sig = 0;
	} else {
		/* A sandboxed agent's PID 1 reports how the agent ended; it
		 * reports nothing when it was killed itself. */
		(void)sandbox_status_read(a->status_fd, &code, &sig);
	}
	a->exit_code = sig ? -1 : code;
	a->signal = sig;
	agent_process_ended(a);
out:
	agent_op_end(a);
}

static void agent_restart_fired(struct loop_timer *timer, int res)
{
	struct agent *a = container_of(timer, struct agent, restart_timer);
	char err[512];
	int r;

	/* Whoever cancelled the timer has already moved the agent on. */
	if (a->table->freed || a->state != AGENT_RESTARTING)
		goto out;
	if (a->table->stopping || a->k->shutting_down) {
		agent_end(a, AGENT_EXITED);
		goto out;
	}
	r = agent_start(a, err, sizeof(err), NULL);
	if (r < 0) {
		log_error("agent %u (%s): restart failed: %s", a->id, a->name,
			  err);
		agent_end(a, AGENT_FAILED);
		goto out;
	}
	a->restarts++;
	log_info("agent %u (%s): restarted as pid %d (restart %u)", a->id,
		 a->name, (int)a->pid, a->restarts);
out:
	agent_op_end(a);
}

/* Arms the grace timer for the time left until kill_deadline_ms. */
static int agent_arm_kill_timer(struct agent *a)
{
	uint64_t now = loop_now_ms();
	uint64_t left =
		a->kill_deadline_ms > now ? a->kill_deadline_ms - now : 0;
	int r = loop_timer_arm(a->k->loop, &a->kill_timer, left);

	if (r < 0)
		return r;
	agent_op_begin(a);
	return 0;
}

/* Fires at the deadline, or early when cancelled: either because the
 * process ended (pid is 0 then) or because a later KILL or the shutdown
 * brought the deadline forward, which the re-arm picks up. */
static void agent_kill_fired(struct loop_timer *timer, int res)
{
	struct agent *a = container_of(timer, struct agent, kill_timer);

	if (a->table->freed || a->pid <= 0 || !a->kill_requested)
		goto out;
	if (loop_now_ms() < a->kill_deadline_ms && agent_arm_kill_timer(a) == 0)
		goto out;
	log_info("agent %u (%s): grace period over, sending SIGKILL", a->id,
		 a->name);
	agent_kill_everything(a);
out:
	agent_op_end(a);
}

static int agent_copy_strv(const char *const *src, size_t n, char ***ret)
{
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(src[i]);
		if (!v[i]) {
			agent_strv_free(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

/* Copies spec into a (restarts need it after the request is gone). */
static int agent_copy_spec(struct agent *a, const struct agent_spec *spec)
{
	const struct config *cfg = &a->k->cfg;
	int r;

	a->spec = *spec;
	a->python = strdup(spec->python);
	a->script = strdup(spec->script);
	if (!a->python || !a->script)
		return -ENOMEM;
	r = agent_copy_strv(spec->args, spec->nargs, &a->args);
	if (r < 0)
		return r;
	r = agent_copy_strv(spec->env, spec->nenv, &a->env);
	if (r < 0)
		return r;
	a->spec.name = a->name;
	a->spec.python = a->python;
	a->spec.script = a->script;
	a->spec.args = (const char *const *)a->args;
	a->spec.env = (const char *const *)a->env;
	if (asprintf(&a->log_path, "%s/logs/%s.log", cfg->state_dir, a->name) <
	    0) {
		a->log_path = NULL;
		return -ENOMEM;
	}
	if (asprintf(&a->work_dir, "%s/agents/%u", cfg->state_dir, a->id) < 0) {
		a->work_dir = NULL;
		return -ENOMEM;
	}
	return restart_budget_init(&a->budget, spec->max_restarts,
				   spec->restart_window_ms);
}

/* Copies the parent's lineage, so that permission checks still work after
 * intermediate agents have left the table. */
static int agent_set_lineage(struct agent *a, struct agents *t,
			     uint32_t parent_id)
{
	struct agent *p = parent_id ? agents_find_id(t, parent_id) : NULL;
	unsigned n = parent_id ? 1 : 0;

	a->parent_id = parent_id;
	if (p)
		n += p->nancestors;
	if (n > AGENT_MAX_DEPTH)
		return -EAGAIN;
	if (n == 0)
		return 0;
	a->ancestors = calloc(n, sizeof(*a->ancestors));
	if (!a->ancestors)
		return -ENOMEM;
	a->ancestors[0] = parent_id;
	if (p && p->nancestors)
		memcpy(a->ancestors + 1, p->ancestors,
		       p->nancestors * sizeof(*a->ancestors));
	a->nancestors = n;
	return 0;
}

static struct agent *agent_new(struct kernel *k, struct agents *t)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->k = k;
	a->table = t;
	a->refs = 1;
	a->pidfd = -EBADF;
	a->status_fd = -EBADF;
	a->exit_code = -1;
	a->exit_op.fn = agent_exited;
	a->restart_timer.fn = agent_restart_fired;
	a->kill_timer.fn = agent_kill_fired;
	return a;
}

static int agent_check_room(struct agents *t, const struct agent_spec *spec,
			    char *err, size_t errlen)
{
	unsigned max = t->k->cfg.max_agents;

	if (t->stopping || t->k->shutting_down) {
		snprintf(err, errlen, "the kernel is shutting down");
		return -ESHUTDOWN;
	}
	if (max && t->nlive >= max) {
		snprintf(err, errlen, "too many agents (at most %u live)", max);
		return -EAGAIN;
	}
	if (spec->name && agents_find_name(t, spec->name)) {
		snprintf(err, errlen, "an agent named '%s' is alive already",
			 spec->name);
		return -EEXIST;
	}
	return 0;
}

int agents_spawn(struct agents *t, const struct agent_spec *spec,
		 uint32_t parent_id, struct agent **ret, char *err,
		 size_t errlen, struct proc_failure *ret_fail)
{
	struct agent *a;
	int r;

	r = agent_check_room(t, spec, err, errlen);
	if (r < 0)
		return r;
	a = agent_new(t->k, t);
	if (!a)
		goto oom;
	a->id = kernel_next_id(t->k);
	if (spec->name)
		snprintf(a->name, sizeof(a->name), "%s", spec->name);
	else
		snprintf(a->name, sizeof(a->name), "agent-%u", a->id);
	if (!spec->name && agents_find_name(t, a->name)) {
		snprintf(err, errlen, "an agent named '%s' is alive already",
			 a->name);
		agent_unref(a);
		return -EEXIST;
	}
	r = agent_set_lineage(a, t, parent_id);
	if (r == -EAGAIN) {
		snprintf(err, errlen, "agents may nest at most %d deep",
			 AGENT_MAX_DEPTH);
		agent_unref(a);
		return r;
	}
	if (r < 0 || agent_copy_spec(a, spec) < 0) {
		agent_unref(a);
		goto oom;
	}
	r = agent_start(a, err, errlen, ret_fail);
	if (r < 0) {
		/* Nothing ran: an empty work directory is all there is. */
		(void)rmdir(a->work_dir);
		agent_unref(a);
		return r;
	}
	agents_insert(t, a);
	log_info("agent %u (%s): started pid %d: %s %s (parent %u)", a->id,
		 a->name, (int)a->pid, a->python, a->script, parent_id);
	*ret = a;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

int agent_kill(struct agent *a, unsigned grace_ms, struct agent_waiter *w)
{
	uint64_t deadline;
	int r;

	if (!agent_alive(a))
		return -ESRCH;
	a->kill_requested = true;
	if (w) {
		w->next = a->waiters;
		a->waiters = w;
	}
	if (a->state == AGENT_RESTARTING) {
		/* Nothing runs: it is killed now; the timer's completion
		 * sees the new state and does nothing. */
		(void)loop_timer_cancel(a->k->loop, &a->restart_timer);
		a->exit_reason = "killed";
		agent_end(a, AGENT_KILLED);
		return 0;
	}
	if (grace_ms == 0) {
		agent_kill_everything(a);
		return 0;
	}
	deadline = loop_now_ms() + grace_ms;
	if (!a->term_sent) {
		agent_signal_group(a, SIGTERM);
		/* A stopped process would only see SIGTERM once continued. */
		if (a->state == AGENT_PAUSED)
			(void)agent_continue(a);
		a->state = AGENT_RUNNING;
		a->term_sent = true;
		a->kill_deadline_ms = deadline;
	} else if (deadline < a->kill_deadline_ms) {
		a->kill_deadline_ms = deadline;
	} else {
		/* A later KILL never postpones an earlier deadline. */
		return 0;
	}
	if (a->kill_timer.armed) {
		/* Its completion re-arms for the new deadline. */
		(void)loop_timer_cancel(a->k->loop, &a->kill_timer);
		return 0;
	}
	r = agent_arm_kill_timer(a);
	if (r < 0) {
		log_warn("agent %u (%s): no grace timer (%s); SIGKILL now",
			 a->id, a->name, strerror(-r));
		agent_kill_everything(a);
	}
	return 0;
}

int agent_pause(struct agent *a, struct agent_waiter *w)
{
	int r;

	if (a->state != AGENT_RUNNING || a->kill_requested || a->pid <= 0)
		return -ESRCH;
	/* Paused before the freezer answers: w may run inside the call. */
	a->state = AGENT_PAUSED;
	r = agent_cgroup_freeze(a, true, w);
	if (r == -EOPNOTSUPP) {
		r = kill(-a->pid, SIGSTOP) < 0 ? negative_errno() : 0;
		if (r == 0 && w)
			w->fn(w, a);
	}
	if (r < 0)
		a->state = AGENT_RUNNING;
	return r;
}

int agent_resume(struct agent *a)
{
	int r;

	if (a->state != AGENT_PAUSED || a->pid <= 0)
		return -ESRCH;
	r = agent_continue(a);
	if (r < 0)
		return r;
	a->state = AGENT_RUNNING;
	return 0;
}

void agents_stop_all(struct agents *t, unsigned grace_ms,
		     void (*done)(struct kernel *k))
{
	t->stopping = true;
	t->stop_done = done;
	/* The name hash holds exactly the live agents. Killing one unlinks
	 * only that one from it (a restarting agent ends at once) and evicts
	 * only ended records from the history, so the saved next stays
	 * valid. */
	for (unsigned b = 0; b < AGENTS_BUCKETS; b++) {
		struct agent *next;

		for (struct agent *a = t->by_name[b]; a; a = next) {
			next = a->name_next;
			(void)agent_kill(a, grace_ms, NULL);
		}
	}
	agents_check_stopped(t);
}

uint32_t agent_id(const struct agent *a)
{
	return a->id;
}

uint32_t agent_parent_id(const struct agent *a)
{
	return a->parent_id;
}

const char *agent_name(const struct agent *a)
{
	return a->name;
}

enum agent_state agent_state(const struct agent *a)
{
	return a->state;
}

bool agent_alive(const struct agent *a)
{
	return a->state == AGENT_RUNNING || a->state == AGENT_PAUSED ||
	       a->state == AGENT_RESTARTING;
}

pid_t agent_pid(const struct agent *a)
{
	return a->pid;
}

const struct llm_agent_params *agent_llm_params(const struct agent *a)
{
	return &a->spec.llm;
}

const char *agent_log_path(const struct agent *a)
{
	return a->log_path;
}

const struct perm_policy *agent_policy(const struct agent *a)
{
	return a->policy;
}

void agent_set_policy(struct agent *a, struct perm_policy *p)
{
	perm_policy_free(a->policy);
	a->policy = p;
}

enum agent_restart_policy agent_restart_policy(const struct agent *a)
{
	return a->spec.restart_policy;
}

int agent_exit_code(const struct agent *a)
{
	return a->exit_code;
}

int agent_signal(const struct agent *a)
{
	return a->signal;
}

bool agent_kill_requested(const struct agent *a)
{
	return a->kill_requested;
}

const char *agent_exit_reason(const struct agent *a)
{
	return a->exit_reason;
}

const struct sandbox_spec *agent_sandbox(const struct agent *a)
{
	return a->sandbox;
}

int agent_pidfd(const struct agent *a)
{
	return a->pidfd;
}
