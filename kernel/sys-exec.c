/* SPDX-License-Identifier: MIT */
/*
 * EXEC (0x02): validate the request, build the argv (a shell only when the
 * caller sends "command") and a minimal environment, pick the working
 * directory, check the program against the caller's exec[] allowlist
 * (perm-exec.h: the canonical program, never a substring of a command
 * line), and hand over to an exec job (exec.c), which answers once the
 * command has ended. The command never runs inside the kernel process's
 * environment: it gets PATH, HOME, LANG and what the caller adds. A
 * sandboxed agent's command runs inside that agent's sandbox (its
 * namespaces, view and lockdown); operators' commands run on the host.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "caller.h"
#include "dispatch.h"
#include "exec.h"
#include "jsonreq.h"
#include "kernel.h"
#include "macro.h"
#include "path.h"
#include "perm-exec.h"
#include "perm.h"
#include "proc.h"
#include "request.h"
#include "sandbox.h"
#include "strv.h"

#define EXEC_DEFAULT_TIMEOUT_S 30.0
#define EXEC_MAX_TIMEOUT_S     3600.0
#define EXEC_DEFAULT_OUTPUT    (1 << 20)
#define EXEC_MAX_OUTPUT	       (2 << 20)
#define EXEC_MAX_ARGS	       4096
#define EXEC_MAX_ENV	       256
#define EXEC_PATH	       "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct exec_request {
	const char *command;
	json_t *argv;
	const char *cwd;
	json_t *env;
	const char *stdin_data;
	size_t stdin_len;
	double timeout_s;
	int64_t max_output;
};

static int parse(json_t *args, struct exec_request *q, struct jr_err *err)
{
	int r;

	if ((r = jr_string(args, "command", false, &q->command, err)) < 0 ||
	    (r = jr_string_array(args, "argv", false, EXEC_MAX_ARGS, &q->argv,
				 err)) < 0 ||
	    (r = jr_string(args, "cwd", false, &q->cwd, err)) < 0 ||
	    (r = jr_number(args, "timeout", false, 0, EXEC_MAX_TIMEOUT_S,
			   &q->timeout_s, err)) < 0 ||
	    (r = jr_string_map(args, "env", EXEC_MAX_ENV, &q->env, err)) < 0 ||
	    (r = jr_string(args, "stdin", false, &q->stdin_data, err)) < 0 ||
	    (r = jr_int(args, "max_output", false, 0, EXEC_MAX_OUTPUT,
			&q->max_output, err)) < 0)
		return r;

	if (q->stdin_data)
		q->stdin_len = strlen(q->stdin_data);
	if (!q->command == !q->argv) {
		snprintf(err->msg, sizeof(err->msg),
			 "exactly one of 'command' and 'argv' is required");
		return -EINVAL;
	}
	if (q->argv && (json_array_size(q->argv) == 0 ||
			json_string_length(json_array_get(q->argv, 0)) == 0)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'argv' must start with a program name");
		return -EINVAL;
	}
	if (!(q->timeout_s > 0)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'timeout' must be greater than 0");
		return -EINVAL;
	}

	const char *key;
	json_t *v;
	json_object_foreach(q->env, key, v) {
		if (!*key || strchr(key, '=')) {
			snprintf(
				err->msg, sizeof(err->msg),
				"field 'env' has an invalid variable name '%.64s'",
				key);
			return -EINVAL;
		}
	}
	return 0;
}

static int build_argv(const struct exec_request *q, char ***ret)
{
	_cleanup_(strv_freep) char **v = NULL;
	size_t n = q->command ? 3 : json_array_size(q->argv);

	v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	if (q->command) {
		v[0] = strdup("/bin/sh");
		v[1] = strdup("-c");
		v[2] = strdup(q->command);
	} else {
		for (size_t i = 0; i < n; i++)
			v[i] = strdup(
				json_string_value(json_array_get(q->argv, i)));
	}
	for (size_t i = 0; i < n; i++)
		if (!v[i])
			return -ENOMEM;
	*ret = take_ptr(v);
	return 0;
}

static char *env_entry(const char *name, const char *value)
{
	char *s;

	return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

/* The minimal environment, each default replaced by the caller's entry of
 * the same name. */
static int build_envp(json_t *env, const char *home, char ***ret)
{
	const char *const defaults[][2] = {
		{ "PATH", EXEC_PATH },
		{ "HOME", home },
		{ "LANG", "C.UTF-8" },
	};
	_cleanup_(strv_freep) char **v = NULL;
	size_t n = 0;
	const char *key;
	json_t *val;

	v = calloc(ELEMENTSOF(defaults) + json_object_size(env) + 1,
		   sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(defaults); i++) {
		if (json_object_get(env, defaults[i][0]))
			continue;
		if (!(v[n++] = env_entry(defaults[i][0], defaults[i][1])))
			return -ENOMEM;
	}
	json_object_foreach(env, key, val) {
		if (!(v[n++] = env_entry(key, json_string_value(val))))
			return -ENOMEM;
	}
	*ret = take_ptr(v);
	return 0;
}

static void reply_spawn_error(struct request *req, int r, const char *prog,
			      const char *cwd, const struct proc_failure *f)
{
	if (r == -EAGAIN) {
		request_reply_error(req, r, "too many commands are running");
		return;
	}
	if (!f->step) {
		request_reply_error(req, r, "cannot run %s: %s", prog,
				    strerror(-r));
		return;
	}
	json_t *extra = json_pack("{s:s}", "step", f->step);
	if (f->sandbox) {
		if (extra && f->path[0])
			json_object_set_new(extra, "path",
					    json_string(f->path));
		request_reply_error_with(
			req, r, extra,
			"cannot run %s: sandbox step %s failed%s%s: %s", prog,
			f->step, f->path[0] ? " on " : "", f->path,
			strerror(f->err));
	} else if (strcmp(f->step, "chdir") == 0)
		request_reply_error_with(
			req, r, extra,
			"cannot run %s: working directory %s: %s", prog, cwd,
			strerror(f->err));
	else if (strcmp(f->step, "execve") == 0)
		request_reply_error_with(req, r, extra, "cannot run %s: %s",
					 prog, strerror(f->err));
	else
		request_reply_error_with(req, r, extra,
					 "cannot run %s: %s failed: %s", prog,
					 f->step, strerror(f->err));
}

/* The working directory: cwd if given (an agent's relative cwd starts in
 * its work directory), else the work directory, else "/". */
static int pick_cwd(struct request *req, const char *arg, const char *work,
		    char *buf, size_t len)
{
	int r;

	if (arg)
		r = path_resolve(request_kernel(req), request_caller(req), arg,
				 buf, len);
	else
		r = path_resolve(request_kernel(req), request_caller(req),
				 work[0] ? work : "/", buf, len);
	if (r == -EINVAL)
		request_reply_error(req, r,
				    "field 'cwd' must be an absolute path");
	else if (r < 0)
		request_reply_error(req, r, "field 'cwd' is too long");
	return r;
}

static const char *env_path(char *const *envp)
{
	for (char *const *e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return NULL;
}

/* The exec[] allowlist on the program that would really run (perm-exec.h);
 * prog receives its canonical path, or "" to run argv[0] as it is. Answers
 * and returns -errno when refused. */
static int check_program(struct request *req, const struct exec_request *q,
			 char *const *argv, char *const *envp, const char *cwd,
			 char *prog, size_t len)
{
	const struct perm_policy *p;
	struct perm_why why;
	int r;

	if (perm_caller_policy(request_kernel(req), request_caller(req), &p) <
	    0) {
		dispatch_reply_denied(req, "EXEC refused: the caller has no "
					   "policy");
		return -EACCES;
	}
	r = perm_exec_check(p, argv[0], env_path(envp), cwd, prog, len, &why);
	if (r == -EACCES && q->command && p->can_exec)
		dispatch_reply_denied(req,
				      "shell command refused: it runs /bin/sh "
				      "(%s), which is not in the policy's exec "
				      "list; send argv to run a program "
				      "without a shell",
				      prog);
	else if (r == -EACCES)
		dispatch_reply_denied(req, "%s", why.msg);
	else if (r < 0)
		request_reply_error(req, r, "%s", why.msg);
	if (r < 0)
		return r;
	r = perm_exec_check_env(p, envp, &why);
	if (r < 0)
		dispatch_reply_denied(req, "%s", why.msg);
	return r;
}

/* An agent's commands run in its cgroup, counted against its limits and
 * killed with it. A paused agent's cgroup is frozen: a child cloned into it
 * would stop before exec, and clone3 (CLONE_VFORK) would wait for it. */
static int exec_cgroup(struct request *req, struct exec_params *p)
{
	const struct caller *c = request_caller(req);

	p->cgroup_fd = -EBADF;
	if (c->role != ROLE_AGENT || !c->agent)
		return 0;
	if (agent_state(c->agent) == AGENT_PAUSED) {
		request_reply_error(req, -ESRCH, "agent %u is paused",
				    agent_id(c->agent));
		return -ESRCH;
	}
	p->cgroup_fd = agent_cgroup_fd(c->agent);
	p->n_cgroup_procs_fds =
		agent_cgroup_procs_fds(c->agent, &p->cgroup_procs_fds);
	return 0;
}

/* The sandbox an agent's command must run in: *ret (a join spec) is
 * filled for a sandboxed agent; false (after replying) when the agent is
 * sandboxed but no longer running — never fall back to the host then. */
static bool pick_sandbox(struct request *req, struct sandbox_spec *ret,
			 struct exec_params *p)
{
	const struct caller *c = request_caller(req);
	const struct sandbox_spec *sb;

	p->sandbox = NULL;
	if (c->role != ROLE_AGENT)
		return true;
	sb = c->agent ? agent_sandbox(c->agent) : NULL;
	if (c->agent && !sb)
		return true; /* started with sandboxed: false */
	if (!c->agent || agent_pidfd(c->agent) < 0) {
		request_reply_error(req, -ESRCH,
				    "agent %u is not running: its commands "
				    "run only inside its sandbox",
				    c->id);
		return false;
	}
	sandbox_spec_join(sb, agent_pidfd(c->agent), ret);
	p->sandbox = ret;
	return true;
}

void sys_exec(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	struct exec_request q = {
		.timeout_s = EXEC_DEFAULT_TIMEOUT_S,
		.max_output = EXEC_DEFAULT_OUTPUT,
	};
	_cleanup_(strv_freep) char **argv = NULL, **envp = NULL;
	char work[PATH_MAX], cwd[PATH_MAX], prog[PATH_MAX];
	struct jr_err err;
	int r;

	r = parse(args, &q, &err);
	if (r < 0) {
		request_reply_error(req, r, "%s", err.msg);
		return;
	}
	if (k->shutting_down) {
		request_reply_error(req, -ESHUTDOWN,
				    "the kernel is shutting down");
		return;
	}
	r = path_work_dir(k, request_caller(req), work, sizeof(work));
	if (r < 0) {
		request_reply_error(req, r, "work directory name too long");
		return;
	}
	if (pick_cwd(req, q.cwd, work, cwd, sizeof(cwd)) < 0)
		return;

	/* Agents live in their work directory; operators keep the kernel's
	 * idea of home. */
	const char *home = work[0] ? work : getenv("HOME");
	if (!home || home[0] != '/')
		home = "/";
	r = build_argv(&q, &argv);
	if (r == 0)
		r = build_envp(q.env, home, &envp);
	if (r < 0) {
		request_reply_error(req, r, "out of memory");
		return;
	}
	if (check_program(req, &q, argv, envp, cwd, prog, sizeof(prog)) < 0)
		return;

	struct exec_params p = {
		.argv = argv,
		.path = prog[0] ? prog : NULL,
		.envp = envp,
		.cwd = cwd,
		.stdin_data = q.stdin_data,
		.stdin_len = q.stdin_len,
		.timeout_s = q.timeout_s,
		/* Rounded up, so a tiny timeout still gets a tick. */
		.timeout_ms = (uint64_t)(q.timeout_s * 1000.0 + 0.999),
		.max_output = (size_t)q.max_output,
	};
	r = exec_cgroup(req, &p);
	if (r < 0)
		return;
	struct sandbox_spec join;
	if (!pick_sandbox(req, &join, &p))
		return;
	struct proc_failure fail = { 0 };
	r = exec_start(req, &p, &fail);
	if (r < 0)
		reply_spawn_error(req, r, argv[0], cwd, &fail);
}
