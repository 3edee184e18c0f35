/* SPDX-License-Identifier: MIT */
/*
 * Starting an agent's process, for its first start and every restart: the
 * work directory and log file, the socketpair whose kernel end becomes the
 * agent's connection (its identity) and whose other end the child inherits
 * as fd 3, the environment and argv, proc_spawn(), and the pidfd poll that
 * supervises it. The process itself is created by proc.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-internal.h"
#include "conn.h"
#include "kernel.h"
#include "macro.h"
#include "proc.h"
#include "sandbox.h"

extern char **environ;

/* Variables the kernel sets itself; neither the kernel's own environment
 * nor the request may provide them. */
static const char *const reserved_env[] = {
	"CLOVE_FD",
	"CLOVE_AGENT_ID",
	"CLOVE_AGENT_NAME",
	"CLOVE_SOCKET",
};

static void strv_freep(char ***v)
{
	agent_strv_free(*v);
}

/* Creates path and its missing parents with mode. */
static int mkdir_parents(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = NULL;

	/* Usually the parents exist (or all of it does): one system call. */
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return negative_errno();
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return negative_errno();
		*s = c;
		if (c == '\0')
			return 0;
	}
}

static int make_dirs(struct agent *a, char *err, size_t errlen)
{
	/* The log directory is the dirname of log_path. */
	_cleanup_free_ char *logs = strdup(a->log_path);
	char *slash;
	int r;

	if (!logs)
		return -ENOMEM;
	slash = strrchr(logs, '/');
	if (slash)
		*slash = '\0';
	r = mkdir_parents(logs, 0700);
	if (r < 0) {
		snprintf(err, errlen, "cannot create log directory %s: %s",
			 logs, strerror(-r));
		return r;
	}
	r = mkdir_parents(a->work_dir, 0700);
	if (r < 0) {
		snprintf(err, errlen, "cannot create work directory %s: %s",
			 a->work_dir, strerror(-r));
		return r;
	}
	return 0;
}

static bool env_has_key(const char *entry, const char *key, size_t keylen)
{
	return strncmp(entry, key, keylen) == 0 && entry[keylen] == '=';
}

static size_t env_key_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool env_key_in(const char *entry, const char *const *keys, size_t n)
{
	size_t len = env_key_len(entry);

	for (size_t i = 0; i < n; i++)
		if (strlen(keys[i]) == len && strncmp(entry, keys[i], len) == 0)
			return true;
	return false;
}

static bool env_reserved(const char *entry)
{
	return env_key_in(entry, reserved_env, ELEMENTSOF(reserved_env));
}

/* The only parts of the kernel's environment an agent sees: no secrets or
 * sockets of the kernel leak into agents (no ambient authority). */
static bool env_passed(const char *entry)
{
	static const char *const passed[] = { "PATH", "LANG", "LC_ALL",
					      "LC_CTYPE", "TZ" };

	return env_key_in(entry, passed, ELEMENTSOF(passed));
}

/* True if the kernel's entry is replaced by the request or the kernel. */
static bool env_overridden(const struct agent *a, const char *entry)
{
	size_t len = env_key_len(entry);

	if (env_reserved(entry))
		return true;
	for (char **e = a->env; *e; e++)
		if (env_has_key(*e, entry, len))
			return true;
	return false;
}

static int strv_push(char **v, size_t *n, char *s)
{
	if (!s)
		return -ENOMEM;
	v[(*n)++] = s;
	v[*n] = NULL;
	return 0;
}

/* PATH, LANG, LC_*, TZ of the kernel; HOME (the work directory); the
 * request's env; then the CLOVE_ ones. */
static int build_envp(const struct agent *a, int fd, char ***ret)
{
	_cleanup_(strv_freep) char **v = NULL;
	size_t n = 0, max = 2 + ELEMENTSOF(reserved_env);
	char *s;
	int r;

	for (char **e = environ; e && *e; e++)
		max++;
	for (char **e = a->env; *e; e++)
		max++;
	v = calloc(max, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (char **e = environ; e && *e; e++) {
		if (!env_passed(*e) || env_overridden(a, *e) || !strchr(*e, '='))
			continue;
		r = strv_push(v, &n, strdup(*e));
		if (r < 0)
			return r;
	}
	if (!env_overridden(a, "HOME=") &&
	    (asprintf(&s, "HOME=%s", a->work_dir) < 0 || strv_push(v, &n, s) < 0))
		return -ENOMEM;
	for (char **e = a->env; *e; e++) {
		/* getenv() finds the first entry: a request's CLOVE_FD would
		 * hide the kernel's. */
		if (env_reserved(*e))
			continue;
		r = strv_push(v, &n, strdup(*e));
		if (r < 0)
			return r;
	}
	if (asprintf(&s, "CLOVE_FD=%d", fd) < 0 || strv_push(v, &n, s) < 0 ||
	    asprintf(&s, "CLOVE_AGENT_ID=%u", a->id) < 0 ||
	    strv_push(v, &n, s) < 0 ||
	    asprintf(&s, "CLOVE_AGENT_NAME=%s", a->name) < 0 ||
	    strv_push(v, &n, s) < 0 ||
	    asprintf(&s, "CLOVE_SOCKET=%s", a->k->cfg.socket_path) < 0 ||
	    strv_push(v, &n, s) < 0)
		return -ENOMEM;
	*ret = take_ptr(v);
	return 0;
}

/* [python, script, socket_path, *args]; the strings are borrowed. */
static int build_argv(const struct agent *a, char ***ret)
{
	size_t n = 0, i = 0;
	char **v;

	for (char **p = a->args; *p; p++)
		n++;
	v = calloc(n + 4, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[i++] = a->python;
	v[i++] = a->script;
	v[i++] = a->k->cfg.socket_path;
	for (char **p = a->args; *p; p++)
		v[i++] = *p;
	*ret = v;
	return 0;
}

int agent_watch(struct agent *a)
{
	int r = loop_poll(a->k->loop, &a->exit_op, a->pidfd, POLLIN);

	if (r < 0)
		return r;
	/* Completions only run from the loop, never inside loop_poll(), so
	 * counting the op after submitting it is safe. */
	agent_op_begin(a);
	a->exit_armed = true;
	return 0;
}

static void spawn_failed(const struct agent *a, int r,
			 const struct proc_failure *fail, char *err,
			 size_t errlen)
{
	if (fail->step && fail->sandbox)
		snprintf(err, errlen, "sandbox step %s failed%s%s: %s",
			 fail->step, fail->path[0] ? " on " : "", fail->path,
			 strerror(fail->err));
	else if (fail->step && fail->err == ENOENT &&
	    strcmp(fail->step, "execve") == 0)
		snprintf(err, errlen,
			 "cannot start agent '%s': program '%s' not found",
			 a->name, a->python);
	else if (fail->step)
		snprintf(err, errlen,
			 "cannot start agent '%s' (%s %s): %s failed: %s",
			 a->name, a->python, a->script, fail->step,
			 strerror(fail->err));
	else
		snprintf(err, errlen, "cannot start agent '%s': %s", a->name,
			 strerror(-r));
}

static int open_log(const struct agent *a, char *err, size_t errlen)
{
	int fd = open(a->log_path,
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		      0640);

	if (fd < 0) {
		int r = negative_errno();

		snprintf(err, errlen, "cannot open log %s: %s", a->log_path,
			 strerror(-r));
		return r;
	}
	return fd;
}

/* Registers the process as a's, once it runs. */
static void agent_started(struct agent *a, pid_t pid, int pidfd,
			  struct conn *conn)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	a->pid = pid;
	a->pidfd = pidfd;
	a->conn = conn;
	a->state = AGENT_RUNNING;
	a->term_sent = false;
	a->exit_code = -1;
	a->signal = 0;
	a->exit_reason = NULL;
	a->started_at = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	a->started_ms = loop_now_ms();
	a->ended_ms = 0;
}

/* The loop refused the pidfd poll: without supervision the agent may not
 * run. The process was just SIGKILLed, so waiting for it is brief. */
static void agent_unwatchable(struct agent *a)
{
	siginfo_t si;

	(void)agent_cgroup_kill(a);
	(void)kill(-a->pid, SIGKILL);
	(void)waitid(P_PIDFD, a->pidfd, &si, WEXITED);
	close(a->pidfd);
	a->pidfd = -EBADF;
	closep(&a->status_fd);
	a->status_fd = -EBADF;
	a->pid = 0;
	conn_forget_agent(a->conn);
	conn_shutdown(a->conn);
	a->conn = NULL;
}

int agent_start(struct agent *a, char *err, size_t errlen,
		struct proc_failure *ret_fail)
{
	_cleanup_close_ int logfd = -EBADF, kfd = -EBADF, cfd = -EBADF;
	_cleanup_(strv_freep) char **envp = NULL;
	_cleanup_free_ char **argv = NULL;
	struct proc_failure fail = { 0 };
	struct conn *conn = NULL;
	int sv[2], pidfd = -EBADF, r;
	pid_t pid = 0;

	r = make_dirs(a, err, errlen);
	if (r < 0)
		return r;
	logfd = open_log(a, err, errlen);
	if (logfd < 0)
		return logfd;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = negative_errno();
		snprintf(err, errlen, "socketpair: %s", strerror(-r));
		return r;
	}
	kfd = sv[0];
	cfd = sv[1];
	if (build_envp(a, 3, &envp) < 0 || build_argv(a, &argv) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = agent_sandbox_prepare(a, err, errlen);
	if (r < 0)
		return r;
	/* The connection exists before the process so that nothing the agent
	 * sends first can arrive before the kernel listens. */
	r = conn_new_agent(a->k, take_fd(kfd), a, &conn);
	if (r < 0) {
		agent_sandbox_started(a);
		snprintf(err, errlen,
			 "cannot set up the agent's connection: %s",
			 strerror(-r));
		return r;
	}
	struct proc_spec ps = {
		.path = a->python,
		.argv = argv,
		.envp = envp,
		.cwd = a->work_dir,
		.stdin_fd = -1,
		.stdout_fd = logfd,
		.stderr_fd = logfd,
		.pass_fd = cfd,
		.cgroup_fd = -EBADF,
		.sandbox = a->sandbox,
	};
	r = agent_cgroup_prepare(a, &ps, err, errlen);
	if (r == 0) {
		r = proc_spawn(&ps, &pid, &pidfd, &fail);
		if (r < 0) {
			spawn_failed(a, r, &fail, err, errlen);
			if (ret_fail)
				*ret_fail = fail;
		}
	}
	agent_sandbox_started(a);
	if (r < 0) {
		conn_forget_agent(conn);
		conn_shutdown(conn);
		return r;
	}
	agent_started(a, pid, pidfd, conn);
	r = agent_watch(a);
	if (r < 0) {
		agent_unwatchable(a);
		snprintf(err, errlen, "cannot supervise agent '%s': %s",
			 a->name, strerror(-r));
		return r;
	}
	agent_memwatch_start(a);
	return 0;
}
