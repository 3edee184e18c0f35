/* SPDX-License-Identifier: MIT */
/*
 * The agent syscalls: SPAWN, KILL, LIST, PAUSE and RESUME (docs/protocol.md).
 * Each one validates every field it reads, picks its target by id or name,
 * asks perm_check_agent_target() whether the caller may act on it, and then
 * hands over to the agent module, which does the work without blocking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "caller.h"
#include "cgroup.h"
#include "dispatch.h"
#include "hub.h"
#include "jsonreq.h"
#include "kernel.h"
#include "llm-sched.h"
#include "macro.h"
#include "perm-policy.h"
#include "perm.h"
#include "proc.h"
#include "request.h"
#include "sandbox.h"

#define SPAWN_MAX_ARGS	 256
#define SPAWN_MAX_ENV	 256
#define KILL_MAX_GRACE_S 300

static const char *const policy_names[] = { "never", "always", "on-failure",
					    NULL };

/* What SPAWN parsed; the strings are borrowed from the request. */
struct spawn_req {
	struct agent_spec spec;
	const char **args;
	char **env;
	/* The request's sandboxed/network/limits, echoed in the reply. */
	json_t *requested;
};

static void spawn_req_done(struct spawn_req *s)
{
	free(s->args);
	if (s->env)
		for (size_t i = 0; i < s->spec.nenv; i++)
			free(s->env[i]);
	free(s->env);
	json_decref(s->requested);
}

static int parse_name(json_t *args, struct spawn_req *s, struct jr_err *err)
{
	int r = jr_string(args, "name", false, &s->spec.name, err);

	if (r < 0 || !s->spec.name)
		return r;
	if (!agent_name_valid(s->spec.name)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'name' must be 1 to %d characters of "
			 "A-Z a-z 0-9 . _ -",
			 AGENT_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

/* script: an absolute path to an existing regular file. A sandboxed
 * caller's script is looked for in its own view when its child's sandbox
 * is planned, not on the host (whose files it must not even probe). */
static int parse_script(json_t *args, struct spawn_req *s, bool in_view,
			struct jr_err *err)
{
	struct stat st;
	int r = jr_string(args, "script", true, &s->spec.script, err);

	if (r < 0)
		return r;
	if (s->spec.script[0] != '/') {
		snprintf(
			err->msg, sizeof(err->msg),
			"field 'script' must be an absolute path (got '%.200s')",
			s->spec.script);
		return -EINVAL;
	}
	if (in_view)
		return 0;
	if (stat(s->spec.script, &st) < 0) {
		r = negative_errno();
		snprintf(err->msg, sizeof(err->msg), "script '%.200s': %s",
			 s->spec.script,
			 r == -ENOENT ? "no such file" : strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err->msg, sizeof(err->msg),
			 "script '%.200s' is not a regular file",
			 s->spec.script);
		return -EINVAL;
	}
	return 0;
}

static int parse_argv_env(json_t *args, struct spawn_req *s, struct jr_err *err)
{
	json_t *arr = NULL, *env = NULL, *v;
	const char *key;
	size_t i;
	int r;

	r = jr_string_array(args, "args", false, SPAWN_MAX_ARGS, &arr, err);
	if (r < 0)
		return r;
	r = jr_string_map(args, "env", SPAWN_MAX_ENV, &env, err);
	if (r < 0)
		return r;
	s->spec.nargs = arr ? json_array_size(arr) : 0;
	s->args = calloc(s->spec.nargs + 1, sizeof(*s->args));
	s->env = calloc((env ? json_object_size(env) : 0) + 1, sizeof(*s->env));
	if (!s->args || !s->env)
		return -ENOMEM;
	json_array_foreach(arr, i, v)
		s->args[i] = json_string_value(v);
	s->spec.args = s->args;
	json_object_foreach(env, key, v) {
		if (key[0] == '\0' || strchr(key, '=')) {
			snprintf(err->msg, sizeof(err->msg),
				 "field 'env': key '%.100s' must be non-empty "
				 "and without '='",
				 key);
			return -EINVAL;
		}
		if (asprintf(&s->env[s->spec.nenv], "%s=%s", key,
			     json_string_value(v)) < 0)
			return -ENOMEM;
		s->spec.nenv++;
	}
	s->spec.env = (const char *const *)s->env;
	return 0;
}

static int parse_restart(json_t *args, struct spawn_req *s, struct jr_err *err)
{
	int policy = AGENT_RESTART_NEVER;
	int64_t max = 5, backoff = 500;
	double window = 300;
	int r;

	r = jr_enum(args, "restart_policy", policy_names, &policy, err);
	if (r < 0)
		return r;
	r = jr_int(args, "max_restarts", false, 0, 1000, &max, err);
	if (r < 0)
		return r;
	r = jr_number(args, "restart_window", false, 1, 86400, &window, err);
	if (r < 0)
		return r;
	r = jr_int(args, "restart_backoff_ms", false, 10, 60000, &backoff, err);
	if (r < 0)
		return r;
	s->spec.restart_policy = (enum agent_restart_policy)policy;
	s->spec.max_restarts = (unsigned)max;
	s->spec.restart_window_ms = (uint64_t)(window * 1000.0 + 0.5);
	s->spec.restart_backoff_ms = (unsigned)backoff;
	return 0;
}

/* The bounds of cgroup_limits_check(): e.g. memory of 1 byte or more than
 * the machine has is EINVAL, not a limit that could never be met. */
static int check_limits(struct agent_limits *l, struct jr_err *err)
{
	struct cgroup_limits lim = CGROUP_LIMITS_NONE;
	struct cgroup_machine mach;
	int r;

	lim.memory = l->memory;
	lim.cpu_quota = l->cpu_quota;
	lim.cpu_period = l->cpu_period;
	lim.cpu_shares = l->cpu_shares;
	lim.pids = l->max_pids;
	r = cgroup_machine_read(&mach);
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "cannot read the machine's size: %s", strerror(-r));
		return r;
	}
	r = cgroup_limits_check(&lim, &mach, err->msg, sizeof(err->msg));
	if (r < 0)
		return r;
	l->cpu_period = lim.cpu_period;
	return 0;
}

/* limits: known keys only, each a non-negative integer. */
static int parse_limits(json_t *args, struct spawn_req *s, struct jr_err *err)
{
	static const char *const keys[] = { "memory",	  "max_pids",
					    "cpu_quota",  "cpu_period",
					    "cpu_shares", "tmp_size" };
	int64_t *fields[] = {
		&s->spec.limits.memory,	    &s->spec.limits.max_pids,
		&s->spec.limits.cpu_quota,  &s->spec.limits.cpu_period,
		&s->spec.limits.cpu_shares, &s->spec.limits.tmp_size
	};
	json_t *limits = NULL, *echo, *v;
	const char *key;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(fields); i++)
		*fields[i] = -1;
	r = jr_object(args, "limits", &limits, err);
	if (r < 0 || !limits)
		return r;
	json_object_foreach(limits, key, v) {
		size_t i = 0;

		while (i < ELEMENTSOF(keys) && strcmp(keys[i], key) != 0)
			i++;
		if (i == ELEMENTSOF(keys)) {
			snprintf(
				err->msg, sizeof(err->msg),
				"field 'limits': unknown limit '%.100s' (known: "
				"memory, max_pids, cpu_quota, cpu_period, "
				"cpu_shares, tmp_size)",
				key);
			return -EINVAL;
		}
		r = jr_int(limits, key, false, 0, INT64_MAX, fields[i], err);
		if (r < 0) {
			snprintf(
				err->msg, sizeof(err->msg),
				"field 'limits.%s' must be a non-negative integer",
				key);
			return r;
		}
	}
	r = check_limits(&s->spec.limits, err);
	if (r < 0)
		return r;
	int64_t tmp = s->spec.limits.tmp_size;
	if (tmp >= 0 && (tmp < (int64_t)SANDBOX_TMP_SIZE_MIN ||
			 tmp > (int64_t)SANDBOX_TMP_SIZE_MAX)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'limits.tmp_size' must be %llu to %llu bytes",
			 (unsigned long long)SANDBOX_TMP_SIZE_MIN,
			 (unsigned long long)SANDBOX_TMP_SIZE_MAX);
		return -EINVAL;
	}
	echo = json_object();
	for (size_t i = 0; echo && i < ELEMENTSOF(keys); i++)
		if (*fields[i] >= 0)
			json_object_set_new(echo, keys[i],
					    json_integer(*fields[i]));
	if (!echo)
		return -ENOMEM;
	json_object_set_new(s->requested, "limits", echo);
	return 0;
}

/* llm {weight, priority}: the child's share of the LLM scheduler. An
 * agent's child starts at its parent's priority and may not be given more
 * unless the parent's policy is unrestricted (perm checked in sys_spawn). */
static int parse_llm(json_t *args, const struct caller *c,
		     struct spawn_req *s, struct jr_err *err)
{
	static const char *const keys[] = { "weight", "priority", NULL };
	int64_t weight = 1, priority = 0;
	json_t *llm = NULL, *v;
	const char *key;
	int r;

	if (c->role == ROLE_AGENT && c->agent)
		priority = agent_llm_params(c->agent)->priority;
	if ((r = jr_object(args, "llm", &llm, err)) < 0)
		return r;
	json_object_foreach(llm, key, v) {
		unsigned i = 0;
		while (keys[i] && strcmp(keys[i], key))
			i++;
		if (!keys[i]) {
			snprintf(err->msg, sizeof(err->msg),
				 "field 'llm': unknown field '%.100s' (known: "
				 "weight, priority)",
				 key);
			return -EINVAL;
		}
	}
	if (llm &&
	    ((r = jr_int(llm, "weight", false, 1, LLM_WEIGHT_MAX, &weight,
			 err)) < 0 ||
	     (r = jr_int(llm, "priority", false, 0, LLM_PRIORITY_MAX,
			 &priority, err)) < 0)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'llm' must be {weight: 1..%d, priority: 0..%d}",
			 LLM_WEIGHT_MAX, LLM_PRIORITY_MAX);
		return r;
	}
	s->spec.llm.weight = (unsigned)weight;
	s->spec.llm.priority = (unsigned)priority;
	return 0;
}

/* A child's LLM priority above its parent's needs an unrestricted parent
 * (operators are not agents and set any priority). */
static int check_llm_priority(struct kernel *k, const struct caller *c,
			      const struct spawn_req *s, struct jr_err *err)
{
	const struct perm_policy *p = NULL;

	if (c->role != ROLE_AGENT || !c->agent ||
	    s->spec.llm.priority <= agent_llm_params(c->agent)->priority)
		return 0;
	if (perm_caller_policy(k, c, &p) == 0 && p &&
	    perm_policy_is_unrestricted(p))
		return 0;
	snprintf(err->msg, sizeof(err->msg),
		 "llm.priority %u exceeds the parent's %u",
		 s->spec.llm.priority, agent_llm_params(c->agent)->priority);
	return -EACCES;
}

static int parse_spawn(struct kernel *k, const struct caller *c, json_t *args,
		       struct spawn_req *s, struct jr_err *err)
{
	bool in_view =
		c->role == ROLE_AGENT && agent_sandbox_for_children(c->agent);
	bool sandboxed = true, network = false;
	int r;

	s->spec.python = k->cfg.python[0] ? k->cfg.python : "python3";
	s->requested = json_object();
	if (!s->requested)
		return -ENOMEM;
	if ((r = parse_name(args, s, err)) < 0 ||
	    (r = parse_script(args, s, in_view, err)) < 0 ||
	    (r = jr_string(args, "python", false, &s->spec.python, err)) < 0 ||
	    (r = parse_argv_env(args, s, err)) < 0 ||
	    (r = parse_restart(args, s, err)) < 0 ||
	    (r = jr_bool(args, "sandboxed", &sandboxed, err)) < 0 ||
	    (r = jr_bool(args, "network", &network, err)) < 0 ||
	    (r = parse_limits(args, s, err)) < 0 ||
	    (r = parse_llm(args, c, s, err)) < 0)
		return r;
	if (s->spec.python[0] == '\0') {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'python' must not be empty");
		return -EINVAL;
	}
	s->spec.sandboxed = sandboxed;
	s->spec.network = network;
	json_object_set_new(s->requested, "sandboxed", json_boolean(sandboxed));
	json_object_set_new(s->requested, "network", json_boolean(network));
	return 0;
}

/* PATH the interpreter is looked up in: the request's env, else ours. */
static const char *spawn_path_env(const struct spawn_req *s)
{
	for (size_t i = 0; i < s->spec.nenv; i++)
		if (strncmp(s->env[i], "PATH=", 5) == 0)
			return s->env[i] + 5;
	return getenv("PATH");
}

/* The child's policy (perm_spawn_policy); answers and returns -errno when
 * refused or malformed. */
static int spawn_policy(struct request *req, json_t *args,
			const struct spawn_req *s, struct perm_policy **ret)
{
	struct perm_why why;
	int r = perm_spawn_policy(request_kernel(req), request_caller(req),
				  json_object_get(args, "permissions"),
				  s->spec.sandboxed, s->spec.python,
				  spawn_path_env(s), ret, &why);

	if (r == -EACCES)
		dispatch_reply_denied(req, "SPAWN refused: %s", why.msg);
	else if (r == -ENOMEM)
		request_reply_error(req, r, "out of memory");
	else if (r < 0)
		request_reply_error(req, r, "%s", why.msg);
	return r;
}

/* One limit against the parent's (negative = none): a child of a limited
 * parent gets the parent's value by default and never more. */
static int inherit_one(int64_t parent, int64_t *child, const char *name,
		       struct jr_err *err)
{
	if (parent < 0)
		return 0;
	if (*child < 0) {
		*child = parent;
		return 0;
	}
	if (*child <= parent)
		return 0;
	snprintf(err->msg, sizeof(err->msg),
		 "limits.%s %lld exceeds the parent's %lld", name,
		 (long long)*child, (long long)parent);
	return -EACCES;
}

/* Least privilege for resources too: an agent cannot give a child more
 * memory, processes, CPU or CPU weight than it has itself. */
static int inherit_limits(struct kernel *k, const struct caller *c,
			  struct agent_limits *l, struct jr_err *err)
{
	struct agent *parent = c->role == ROLE_AGENT ?
				       agents_find_id(k->agents, c->id) : NULL;
	if (!parent)
		return 0;
	const struct agent_limits *p = agent_limits(parent);
	int r;

	if ((r = inherit_one(p->memory, &l->memory, "memory", err)) < 0 ||
	    (r = inherit_one(p->max_pids, &l->max_pids, "max_pids", err)) < 0 ||
	    (r = inherit_one(p->cpu_shares, &l->cpu_shares, "cpu_shares", err)) < 0)
		return r;
	if (p->cpu_quota < 0)
		return 0;
	if (l->cpu_quota < 0) {
		l->cpu_quota = p->cpu_quota;
		l->cpu_period = p->cpu_period;
		return 0;
	}
	int64_t pp = p->cpu_period > 0 ? p->cpu_period : CGROUP_CPU_PERIOD_DEFAULT;
	int64_t cp = l->cpu_period > 0 ? l->cpu_period : CGROUP_CPU_PERIOD_DEFAULT;
	/* quota/period as a share of CPUs, compared without division. */
	if ((__int128)l->cpu_quota * pp > (__int128)p->cpu_quota * cp) {
		snprintf(err->msg, sizeof(err->msg),
			 "limits.cpu_quota %lld/%lld exceeds the parent's %lld/%lld",
			 (long long)l->cpu_quota, (long long)cp,
			 (long long)p->cpu_quota, (long long)pp);
		return -EACCES;
	}
	return 0;
}

/* Says only what is in force; the request is echoed under "requested". */
static json_t *isolation_json(const struct agent *a, json_t *requested)
{
	json_t *iso = agent_isolation_json(a);

	if (iso && json_object_set(iso, "requested", requested) < 0) {
		json_decref(iso);
		return NULL;
	}
	return iso;
}

static void reply_spawn_error(struct request *req, int r, const char *why,
			      const struct proc_failure *f)
{
	json_t *extra;

	if (!f->step) {
		request_reply_error(req, r, "%s", why);
		return;
	}
	extra = json_pack("{s:s}", "step", f->step);
	if (extra && f->path[0])
		json_object_set_new(extra, "path", json_string(f->path));
	request_reply_error_with(req, r, extra, "%s", why);
}

void sys_spawn(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	_cleanup_(spawn_req_done) struct spawn_req s = { 0 };
	_cleanup_(perm_policy_freep) struct perm_policy *policy = NULL;
	struct jr_err err = { "" };
	struct agent *a;
	char why[512];
	int r;

	r = parse_spawn(k, c, args, &s, &err);
	if (r == -ENOMEM) {
		request_reply_error(req, r, "out of memory");
		return;
	}
	if (r < 0) {
		request_reply_error(req, r, "%s", err.msg);
		return;
	}
	/* Names are identities of mailboxes too (hub.h): one taken with
	 * REGISTER is as taken as a live agent's. */
	if (s.spec.name && hub_name_taken(k, s.spec.name, 0)) {
		request_reply_error(req, -EEXIST, "the name '%s' is taken",
				    s.spec.name);
		return;
	}
	if (spawn_policy(req, args, &s, &policy) < 0)
		return;
	if (inherit_limits(k, c, &s.spec.limits, &err) < 0 ||
	    check_llm_priority(k, c, &s, &err) < 0) {
		dispatch_reply_denied(req, "SPAWN refused: %s", err.msg);
		return;
	}
	struct proc_failure fail = { 0 };
	r = agents_spawn(k->agents, &s.spec, c->role == ROLE_AGENT ? c->id : 0,
			 &a, why, sizeof(why), &fail);
	if (r < 0) {
		reply_spawn_error(req, r, why, &fail);
		return;
	}
	/* Before the loop runs again, so the agent's first request already
	 * meets its policy. */
	agent_set_policy(a, take_ptr(policy));
	hub_agent_changed(k, a, HUB_AGENT_SPAWNED);
	/* One key and its value per line. */
	/* clang-format off */
	request_reply_json(req, json_pack(
		"{s:I, s:s, s:I, s:s, s:n, s:s, s:s, s:I, s:o, s:b, s:s, s:o}",
		"id", (json_int_t)agent_id(a),
		"name", agent_name(a),
		"pid", (json_int_t)agent_pid(a),
		"status", agent_state_name(agent_state(a)),
		"exit_reason",
		"restart_policy",
		agent_restart_policy_name(agent_restart_policy(a)),
		"log_path", agent_log_path(a),
		"parent_id", (json_int_t)agent_parent_id(a),
		"isolation", isolation_json(a, s.requested),
		"sandboxed", s.spec.sandboxed,
		"level", perm_level_name(perm_policy_level(agent_policy(a))),
		"permissions", perm_policy_to_json(agent_policy(a))));
	/* clang-format on */
}

/* Drops the entries c may not act on (perm_sees_all_agents). */
static void list_filter(struct kernel *k, const struct caller *c, json_t *list)
{
	for (size_t i = json_array_size(list); i-- > 0;) {
		json_t *id = json_object_get(json_array_get(list, i), "id");
		struct agent *a = agents_find_id(
			k->agents, (uint32_t)json_integer_value(id));
		if (!a || perm_check_agent_target(k, c, a) < 0)
			json_array_remove(list, i);
	}
}

void sys_list(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	json_t *list = agents_to_json(k->agents);

	if (!list) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	if (!perm_sees_all_agents(k, request_caller(req)))
		list_filter(k, request_caller(req), list);
	request_reply_json(req, list);
}

/* KILL/PAUSE/RESUME's target: {"id": n} or {"name": s}, which the caller
 * must be allowed to act on. Replies the error itself and returns NULL. */
static struct agent *find_target(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const char *name = NULL;
	struct jr_err err;
	struct agent *a;
	int64_t id = 0;

	if (jr_id_or_name(args, "id", "name", &id, &name, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return NULL;
	}
	a = id ? agents_find_id(k->agents, (uint32_t)id)
	       : agents_find_name_recent(k->agents, name);
	if (!a) {
		if (id)
			request_reply_error(req, -ENOENT,
					    "no agent with id %lld",
					    (long long)id);
		else
			request_reply_error(req, -ENOENT,
					    "no agent named '%.100s'", name);
		return NULL;
	}
	if (perm_check_agent_target(k, request_caller(req), a) < 0) {
		dispatch_reply_denied(
			req,
			"caller %u may not act on agent %u: only on "
			"itself and the agents it spawned",
			request_caller(req)->id, agent_id(a));
		return NULL;
	}
	return a;
}

static json_t *kill_reply(const struct agent *a)
{
	int sig = agent_signal(a), code = agent_exit_code(a);
	bool ended = !agent_alive(a);

	const char *why = agent_exit_reason(a);

	return json_pack(
		"{s:b, s:I, s:s, s:o, s:o, s:o}", "killed", 1, "agent_id",
		(json_int_t)agent_id(a), "state",
		agent_state_name(agent_state(a)), "signal",
		ended && sig ? json_integer(sig) : json_null(), "exit_code",
		ended && !sig && code >= 0 ? json_integer(code) : json_null(),
		"exit_reason", ended && why ? json_string(why) : json_null());
}

struct kill_wait {
	struct agent_waiter w;
	struct request *req;
};

static void kill_waited(struct agent_waiter *w, struct agent *a)
{
	struct kill_wait *kw = container_of(w, struct kill_wait, w);

	if (agent_alive(a))
		/* Only when the kernel is torn down mid-kill. */
		request_reply_error(kw->req, -ECANCELED,
				    "the kernel stopped before agent %u ended",
				    agent_id(a));
	else
		request_reply_json(kw->req, kill_reply(a));
	free(kw);
}

void sys_kill(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	double grace = k->cfg.kill_grace_ms / 1000.0;
	struct kill_wait *kw = NULL;
	struct jr_err err;
	bool wait = true;
	struct agent *a;
	int r;

	if (jr_number(args, "grace", false, 0, KILL_MAX_GRACE_S, &grace, &err) <
		    0 ||
	    jr_bool(args, "wait", &wait, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	a = find_target(req, args);
	if (!a)
		return;
	if (!agent_alive(a)) {
		request_reply_error(req, -ESRCH,
				    "agent %u (%s) is not alive (%s)",
				    agent_id(a), agent_name(a),
				    agent_state_name(agent_state(a)));
		return;
	}
	if (wait) {
		kw = calloc(1, sizeof(*kw));
		if (!kw) {
			request_reply_error(req, -ENOMEM, "out of memory");
			return;
		}
		kw->w.fn = kill_waited;
		kw->req = req;
	}
	/* With a waiter, the reply may already be sent when this returns. */
	r = agent_kill(a, (unsigned)(grace * 1000.0 + 0.5), kw ? &kw->w : NULL);
	if (r < 0) {
		free(kw);
		request_reply_error(req, r, "cannot kill agent %u: %s",
				    agent_id(a), strerror(-r));
		return;
	}
	if (!wait)
		request_reply_json(req, kill_reply(a));
}

static json_t *pause_reply(const struct agent *a, bool pause)
{
	json_t *o = json_pack("{s:b, s:I}", pause ? "paused" : "resumed", 1,
			      "agent_id", (json_int_t)agent_id(a));
	int frozen = agent_frozen(a);

	/* With a freezer, say whether it has taken hold (SIGSTOP: absent). */
	if (o && frozen != -EOPNOTSUPP)
		json_object_set_new(o, "frozen", json_boolean(frozen == 1));
	return o;
}

struct pause_wait {
	struct agent_waiter w;
	struct request *req;
};

static void pause_waited(struct agent_waiter *w, struct agent *a)
{
	struct pause_wait *pw = container_of(w, struct pause_wait, w);

	if (agent_state(a) == AGENT_PAUSED) {
		hub_agent_changed(request_kernel(pw->req), a, HUB_AGENT_PAUSED);
		request_reply_json(pw->req, pause_reply(a, true));
	} else
		request_reply_error(pw->req, -ESRCH,
				    "agent %u (%s) is %s before its pause took "
				    "hold",
				    agent_id(a), agent_name(a),
				    agent_state_name(agent_state(a)));
	free(pw);
}

static void pause_resume(struct request *req, json_t *args, bool pause)
{
	struct agent *a = find_target(req, args);
	struct pause_wait *pw = NULL;
	int r;

	if (!a)
		return;
	if (pause) {
		pw = calloc(1, sizeof(*pw));
		if (!pw) {
			request_reply_error(req, -ENOMEM, "out of memory");
			return;
		}
		pw->w.fn = pause_waited;
		pw->req = req;
	}
	/* PAUSE replies from pause_waited(), once the freezer says frozen;
	 * that may happen before agent_pause returns. */
	r = pause ? agent_pause(a, &pw->w) : agent_resume(a);
	if (r < 0)
		free(pw);
	if (r == -ESRCH) {
		request_reply_error(req, r, "agent %u (%s) is %s, not %s",
				    agent_id(a), agent_name(a),
				    agent_kill_requested(a) && agent_alive(a)
					    ? "being killed"
					    : agent_state_name(agent_state(a)),
				    pause ? "running" : "paused");
		return;
	}
	if (r < 0) {
		request_reply_error(req, r, "cannot %s agent %u: %s",
				    pause ? "pause" : "resume", agent_id(a),
				    strerror(-r));
		return;
	}
	if (!pause) {
		hub_agent_changed(request_kernel(req), a, HUB_AGENT_RESUMED);
		request_reply_json(req, pause_reply(a, false));
	}
}

void sys_pause(struct request *req, json_t *args)
{
	pause_resume(req, args, true);
}

void sys_resume(struct request *req, json_t *args)
{
	pause_resume(req, args, false);
}
