/* SPDX-License-Identifier: MIT */
/*
 * Agents and their cgroups. The kernel's cgroup manager is set up at start
 * (sweeping what a crashed kernel left); each agent gets its cgroup on its
 * first start — kept across restarts, released (killed, then removed on the
 * manager's timer) when the agent ends. Its process is cloned into it, so
 * the limits hold from the first instruction; EXEC runs the agent's
 * commands there too. Through it: KILL leaves no descendant (cgroup.kill
 * reaches processes that left the process group), PAUSE freezes (and the
 * reply waits, on a loop timer, for the freezer to report "frozen"), and
 * the exit reason tells an OOM kill or a fork refused at pids.max from an
 * ordinary death. isolation.cgroup says only what the files show.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-internal.h"
#include "cgroup.h"
#include "kernel.h"
#include "log.h"
#include "macro.h"
#include "proc.h"

/* How often and how long PAUSE looks for "frozen" before answering. */
#define FREEZE_CHECK_MS	 5
#define FREEZE_CHECK_MAX 1000
/* At exit, how long the kernel waits for its last cgroups to empty. */
#define CGROUP_FINAL_WAIT_MS 3000

struct agent_cgroup {
	struct agent *a;
	/* NULL without a manager, and once released. */
	struct cgroup *cg;
	/* The counters when the current process started. */
	struct cgroup_counters base;
	/* isolation.cgroup (limits do not change over the agent's life). */
	json_t *json;
	struct loop_timer freeze_timer;
	unsigned freeze_checks;
	struct agent_waiter *freeze_waiters;
};

static void freeze_check(struct loop_timer *t, int res);

int agents_cgroup_init(struct kernel *k)
{
	char inst[32], err[512], state[PATH_MAX];
	struct cgroup_config cfg = { .root = "/sys/fs/cgroup" };
	int r;

	/* One instance per state directory, however it was spelled: the
	 * next kernel on it finds this one's leftovers. */
	if (!realpath(k->cfg.state_dir, state))
		snprintf(state, sizeof(state), "%s", k->cfg.state_dir);
	cgroup_instance_name(state, inst, sizeof(inst));
	cfg.instance = inst;
	r = cgroup_manager_new(&cfg, &k->cgroups, err, sizeof(err));
	if (r < 0) {
		log_warn("cgroups unavailable, agents run without limits, "
			 "cgroup.kill or freezer: %s",
			 err);
		k->cgroups = NULL;
		return r;
	}
	cgroup_manager_set_loop(k->cgroups, k->loop);
	log_info("cgroups: %s layout, agents under %s",
		 cgroup_layout_name(cgroup_manager_layout(k->cgroups)),
		 cgroup_manager_dir(k->cgroups));
	for (int c = 0; c < CGROUP_FREEZER; c++) {
		const char *why = cgroup_manager_missing(k->cgroups, c);

		if (why)
			log_warn("cgroups: %s limits cannot be enforced: %s",
				 cgroup_controller_name(c), why);
	}
	r = cgroup_manager_sweep(k->cgroups);
	if (r > 0)
		log_warn("cgroups: removed %d cgroup(s) left by an earlier "
			 "kernel, killing what ran in them",
			 r);
	else if (r < 0)
		log_warn("cgroups: sweeping leftovers: %s", strerror(-r));
	return 0;
}

void agents_cgroup_detach(struct kernel *k)
{
	if (k->cgroups)
		cgroup_manager_set_loop(k->cgroups, NULL);
}

void agents_cgroup_done(struct kernel *k)
{
	unsigned left = cgroup_manager_free(k->cgroups, CGROUP_FINAL_WAIT_MS);

	if (left)
		log_warn("cgroups: %u agent cgroup(s) still busy at exit; the "
			 "next start removes them",
			 left);
	k->cgroups = NULL;
}

static struct cgroup_limits agent_requested(const struct agent *a)
{
	const struct agent_limits *l = &a->spec.limits;
	struct cgroup_limits lim = CGROUP_LIMITS_NONE;

	lim.memory = l->memory;
	lim.cpu_quota = l->cpu_quota;
	lim.cpu_period = l->cpu_period;
	lim.cpu_shares = l->cpu_shares;
	lim.pids = l->max_pids;
	return lim;
}

static bool limits_requested(const struct cgroup_limits *l)
{
	return l->memory >= 0 || l->cpu_quota >= 0 || l->cpu_shares >= 0 ||
	       l->pids >= 0;
}

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

/* Why each requested limit that the files do not show is not in force. */
static json_t *unenforced_json(struct cgroup_manager *m,
			       const struct cgroup_limits *req,
			       const struct cgroup_limits *got)
{
	static const char no_cgroups[] =
		"this kernel has no cgroups (see its log at start)";
	const struct {
		const char *key;
		int64_t want, have;
		enum cgroup_controller c;
	} rows[] = {
		{ "memory", req->memory, got->memory, CGROUP_MEMORY },
		{ "cpu", req->cpu_quota, got->cpu_quota, CGROUP_CPU },
		{ "shares", req->cpu_shares, got->cpu_shares, CGROUP_CPU },
		{ "pids", req->pids, got->pids, CGROUP_PIDS },
	};
	json_t *o = json_object();

	for (size_t i = 0; o && i < ELEMENTSOF(rows); i++) {
		const char *why;

		if (rows[i].want < 0 || rows[i].have >= 0)
			continue;
		why = !m ? no_cgroups : cgroup_manager_missing(m, rows[i].c);
		json_object_set_new(
			o, rows[i].key,
			json_string(why ? why
					: "written, but the cgroup reads back "
					  "no limit"));
	}
	return o;
}

static json_t *dirs_json(const struct cgroup *cg)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (cgroup_unified_dir(cg))
		json_object_set_new(o, "unified",
				    json_string(cgroup_unified_dir(cg)));
	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++)
		if (cgroup_v1_dir(cg, c))
			json_object_set_new(o, cgroup_controller_name(c),
					    json_string(cgroup_v1_dir(cg, c)));
	return o;
}

static json_t *cgroup_json(struct cgroup_manager *m, const struct cgroup *cg,
			   const struct cgroup_limits *req)
{
	struct cgroup_limits none = CGROUP_LIMITS_NONE;
	const struct cgroup_limits *e = cg ? cgroup_enforced(cg) : &none;
	json_t *cpu = e->cpu_quota >= 0
			      ? json_pack("{s:I, s:I}", "quota",
					  (json_int_t)e->cpu_quota, "period",
					  (json_int_t)e->cpu_period)
			      : json_null();
	json_t *o = json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "version",
		m ? json_string(cgroup_layout_name(cgroup_manager_layout(m)))
		  : json_null(),
		"path",
		cg && cgroup_path(cg) ? json_string(cgroup_path(cg))
				      : json_null(),
		"dirs", cg ? dirs_json(cg) : json_null(), "memory",
		int_or_null(e->memory), "cpu", cpu, "shares",
		int_or_null(e->cpu_shares), "pids", int_or_null(e->pids));

	if (o && e->cpu_weight >= 0)
		json_object_set_new(o, "weight", json_integer(e->cpu_weight));
	json_t *u = o ? unenforced_json(m, req, e) : NULL;
	if (u && json_object_size(u) > 0)
		json_object_set_new(o, "unenforced", u);
	else
		json_decref(u);
	return o;
}

static struct agent_cgroup *agent_cgroup_get(struct agent *a)
{
	if (!a->cgroup) {
		a->cgroup = calloc(1, sizeof(*a->cgroup));
		if (!a->cgroup)
			return NULL;
		a->cgroup->a = a;
		a->cgroup->freeze_timer.fn = freeze_check;
	}
	return a->cgroup;
}

/* The first start creates the cgroup; restarts reuse it. */
static int agent_cgroup_create(struct agent *a, struct agent_cgroup *ac,
			       char *err, size_t errlen)
{
	struct cgroup_manager *m = a->k->cgroups;
	struct cgroup_limits req = agent_requested(a);
	char name[32], why[400];
	int r;

	if (m) {
		snprintf(name, sizeof(name), "agent-%u", a->id);
		r = cgroup_new(m, name, &req, &ac->cg, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen,
				 "cannot set up the cgroup of agent '%s': %s",
				 a->name, why);
			return r;
		}
	}
	ac->json = m || limits_requested(&req) ? cgroup_json(m, ac->cg, &req)
					       : json_null();
	return ac->json ? 0 : -ENOMEM;
}

int agent_cgroup_prepare(struct agent *a, struct proc_spec *ps, char *err,
			 size_t errlen)
{
	struct agent_cgroup *ac = agent_cgroup_get(a);
	const int *fds;
	int r;

	if (!ac) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!ac->json) {
		r = agent_cgroup_create(a, ac, err, errlen);
		if (r < 0)
			return r;
	}
	if (!ac->cg)
		return 0;
	ps->cgroup_fd = cgroup_clone_fd(ac->cg);
	ps->n_cgroup_procs_fds = cgroup_attach_fds(ac->cg, &fds);
	ps->cgroup_procs_fds = fds;
	if (cgroup_counters(ac->cg, &ac->base) < 0)
		ac->base = (struct cgroup_counters){ 0 };
	return 0;
}

const char *agent_cgroup_exit_reason(struct agent *a)
{
	struct agent_cgroup *ac = a->cgroup;
	struct cgroup_counters now;

	if (a->kill_requested)
		return "killed";
	/* A process that ended well is "exited", whatever its children
	 * met; one that failed after an OOM kill or a refused fork in its
	 * cgroup is told apart. */
	if (ac && ac->cg && (a->signal || a->exit_code != 0) &&
	    cgroup_counters(ac->cg, &now) == 0) {
		if (now.oom_kills > ac->base.oom_kills)
			return "oom";
		if (now.pids_max > ac->base.pids_max)
			return "pids";
	}
	return a->signal ? "signal" : "exited";
}

int agent_cgroup_kill(struct agent *a)
{
	struct agent_cgroup *ac = a->cgroup;

	if (!ac || !ac->cg)
		return -EOPNOTSUPP;
	return cgroup_kill(ac->cg);
}

static void freeze_waiters_call(struct agent_cgroup *ac)
{
	while (ac->freeze_waiters) {
		struct agent_waiter *w = ac->freeze_waiters;

		ac->freeze_waiters = w->next;
		w->next = NULL;
		w->fn(w, ac->a);
	}
}

static void freeze_check(struct loop_timer *t, int res)
{
	struct agent_cgroup *ac =
		container_of(t, struct agent_cgroup, freeze_timer);
	struct agent *a = ac->a;

	if (a->table->freed)
		goto out;
	if (ac->cg && a->state == AGENT_PAUSED && cgroup_frozen(ac->cg) == 0 &&
	    ++ac->freeze_checks < FREEZE_CHECK_MAX &&
	    loop_timer_arm(a->k->loop, t, FREEZE_CHECK_MS) == 0) {
		agent_op_begin(a);
		goto out;
	}
	freeze_waiters_call(ac);
out:
	agent_op_end(a);
}

int agent_cgroup_freeze(struct agent *a, bool frozen, struct agent_waiter *w)
{
	struct agent_cgroup *ac = a->cgroup;
	int r;

	if (!ac || !ac->cg || !cgroup_manager_can_freeze(a->k->cgroups))
		return -EOPNOTSUPP;
	r = cgroup_freeze(ac->cg, frozen);
	if (r < 0)
		return r;
	if (w) {
		w->next = ac->freeze_waiters;
		ac->freeze_waiters = w;
	}
	/* Thawing, or frozen already: nobody needs to wait. */
	if (!frozen || cgroup_frozen(ac->cg) != 0) {
		if (ac->freeze_timer.armed)
			(void)loop_timer_cancel(a->k->loop, &ac->freeze_timer);
		freeze_waiters_call(ac);
		return 0;
	}
	if (!ac->freeze_timer.armed) {
		ac->freeze_checks = 0;
		if (loop_timer_arm(a->k->loop, &ac->freeze_timer,
				   FREEZE_CHECK_MS) < 0) {
			freeze_waiters_call(ac);
			return 0;
		}
		agent_op_begin(a);
	}
	return 0;
}

struct cgroup *agent_cgroup_cg(struct agent *a)
{
	return a->cgroup ? a->cgroup->cg : NULL;
}

int agent_frozen(const struct agent *a)
{
	if (!a->cgroup || !a->cgroup->cg)
		return -EOPNOTSUPP;
	return cgroup_frozen(a->cgroup->cg);
}

void agent_cgroup_ended(struct agent *a)
{
	struct agent_cgroup *ac = a->cgroup;

	if (!ac || !ac->cg)
		return;
	/* A restart must not be cloned into a frozen cgroup (it would stop
	 * before exec, and the kernel with it: clone3 waits for the exec). */
	if (a->state == AGENT_PAUSED)
		(void)cgroup_freeze(ac->cg, false);
	freeze_waiters_call(ac);
}

void agent_cgroup_release(struct agent *a)
{
	struct agent_cgroup *ac = a->cgroup;

	if (!ac)
		return;
	if (a->k->loop)
		freeze_waiters_call(ac);
	ac->freeze_waiters = NULL;
	cgroup_release(ac->cg);
	ac->cg = NULL;
}

void agent_cgroup_free(struct agent *a)
{
	if (!a->cgroup)
		return;
	agent_cgroup_release(a);
	json_decref(a->cgroup->json);
	free(a->cgroup);
	a->cgroup = NULL;
}

int agent_cgroup_fd(const struct agent *a)
{
	return a->cgroup && a->cgroup->cg ? cgroup_clone_fd(a->cgroup->cg)
					  : -EBADF;
}

size_t agent_cgroup_procs_fds(const struct agent *a, const int **ret)
{
	*ret = NULL;
	if (!a->cgroup || !a->cgroup->cg)
		return 0;
	return cgroup_attach_fds(a->cgroup->cg, ret);
}

json_t *agent_cgroup_json(const struct agent *a)
{
	if (!a->cgroup || !a->cgroup->json)
		return json_null();
	return json_incref(a->cgroup->json);
}

const struct agent_limits *agent_limits(const struct agent *a)
{
	return &a->spec.limits;
}
