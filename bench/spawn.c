/* SPDX-License-Identifier: MIT */
/*
 * `clove-bench spawn`: what it costs to start a sandboxed agent, next to
 * starting /bin/true in comparable sandboxes built by bubblewrap and by
 * unshare(1), all measured in the same run, in alternating rounds, so load
 * from neighbours on a shared machine hits every figure alike.
 *
 * - spawn.sandboxed.true: SPAWN of a sandboxed agent whose program is
 *   /bin/true, from sending the request to its exit. The exit is seen
 *   through a pidfd of the pid in the reply (the same event the kernel
 *   waits for); a pid that is already gone when the reply arrives has
 *   exited, and the time of the reply is then taken.
 * - spawn.unsandboxed.true: the same with sandboxed: false, to show what
 *   the sandbox itself adds.
 * - spawn.sandboxed.python_ready: SPAWN of a sandboxed Python agent, from
 *   the request to the end of its first syscall (HELLO through the SDK),
 *   which the agent announces with a line in its log, seen with inotify.
 * - baseline.bwrap.true: `bwrap --unshare-all --ro-bind / / /bin/true`,
 *   fork + exec + wait; baseline.unshare.true: `unshare --fork --pid
 *   --mount --uts --ipc --net /bin/true`, likewise.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "clove.h"
#include "macro.h"

#define SPAWN_ROUND   10u
#define SPAWN_WARMUP  3u
#define SPAWN_WAIT_MS 20000
#define PY_READY_LINE "clove-bench-ready"
#define PY_SKIP_LINE  "clove-bench-skip:"

extern char **environ;

static const char py_agent[] =
	"try:\n"
	"    from clove_sdk import CloveClient\n"
	"except ImportError as e:\n"
	"    print('" PY_SKIP_LINE " clove_sdk cannot be imported: %s' % e,\n"
	"          flush=True)\n"
	"    raise SystemExit(0)\n"
	"with CloveClient() as c:\n"
	"    c.hello()\n"
	"print('" PY_READY_LINE "', flush=True)\n";

struct spawn_ctx {
	const struct bench_opts *o;
	struct clove_client *c;
	char empty[PATH_MAX];
	char pyscript[PATH_MAX];
	char logs[PATH_MAX];
	char python[PATH_MAX];
	int inotify;
	unsigned seq;
};

/* One figure: its samples (ns) and how to take one. */
struct figure {
	struct bench_result *res;
	int (*once)(struct spawn_ctx *x, uint64_t *ret_ns);
	unsigned want;
	uint64_t *samples;
	size_t n;
	bool done;
};

static int write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd =
		open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0)
		return negative_errno();
	return write(fd, text, len) == (ssize_t)len ? 0 : -EIO;
}

/* SPAWN with payload; the reply's pid, or -errno with the error in err. */
static int spawn_agent(struct spawn_ctx *x, const char *payload, pid_t *ret_pid,
		       char *err, size_t errlen)
{
	void *reply = NULL;
	size_t len = 0;
	int r = clove_call(x->c, CLOVE_OP_SPAWN, payload, strlen(payload),
			   &reply, &len);
	json_t *j = r >= 0 ? json_loadb(reply, len, 0, NULL) : NULL;
	json_t *pid = json_object_get(j, "pid");

	if (r >= 0 && (!json_is_true(json_object_get(j, "success")) ||
		       !json_is_integer(pid))) {
		const char *e = json_string_value(json_object_get(j, "error"));
		snprintf(err, errlen, "SPAWN failed: %s", e ? e : "bad reply");
		r = -EIO;
	} else if (r < 0) {
		snprintf(err, errlen, "SPAWN: %s", strerror(-r));
	} else {
		*ret_pid = (pid_t)json_integer_value(pid);
	}
	json_decref(j);
	clove_free(reply);
	return r < 0 ? r : 0;
}

/* Waits until pid has exited (at once if it is gone already). */
static int wait_exit(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	if (fd < 0)
		return errno == ESRCH ? 0 : negative_errno();
	do
		r = poll(&p, 1, SPAWN_WAIT_MS);
	while (r < 0 && errno == EINTR);
	close(fd);
	return r > 0 ? 0 : -ETIMEDOUT;
}

static int agent_true(struct spawn_ctx *x, bool sandboxed, uint64_t *ret_ns)
{
	char payload[PATH_MAX + 128], err[256];
	pid_t pid = 0;
	int r;

	snprintf(
		payload, sizeof(payload),
		"{\"script\":\"%s\",\"python\":\"/bin/true\",\"sandboxed\":%s}",
		x->empty, sandboxed ? "true" : "false");
	uint64_t t0 = stats_now_ns();
	r = spawn_agent(x, payload, &pid, err, sizeof(err));
	if (r == 0)
		r = wait_exit(pid);
	*ret_ns = stats_now_ns() - t0;
	return r;
}

static int sandboxed_true(struct spawn_ctx *x, uint64_t *ret_ns)
{
	return agent_true(x, true, ret_ns);
}

static int unsandboxed_true(struct spawn_ctx *x, uint64_t *ret_ns)
{
	return agent_true(x, false, ret_ns);
}

static int run_command(char *const argv[], uint64_t *ret_ns)
{
	uint64_t t0 = stats_now_ns();
	pid_t pid;
	int status, r;

	r = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (r != 0)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	*ret_ns = stats_now_ns() - t0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int bwrap_true(struct spawn_ctx *x, uint64_t *ret_ns)
{
	char *const argv[] = { "bwrap", "--unshare-all", "--ro-bind", "/",
			       "/",	"/bin/true",	 NULL };
	return run_command(argv, ret_ns);
}

static int unshare_true(struct spawn_ctx *x, uint64_t *ret_ns)
{
	char *const argv[] = { "unshare", "--fork",    "--pid",
			       "--mount", "--uts",     "--ipc",
			       "--net",	  "/bin/true", NULL };
	return run_command(argv, ret_ns);
}

/* 1: the log holds the ready line, 2: the skip line, 0: neither yet. */
static int log_state(const char *path)
{
	char buf[4096];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (strstr(buf, PY_READY_LINE))
		return 1;
	return strstr(buf, PY_SKIP_LINE) ? 2 : 0;
}

/* Sleeps on inotify until the agent's log says it is ready. */
static int wait_ready(struct spawn_ctx *x, const char *log)
{
	char buf[4096] __attribute__((aligned(8)));
	struct pollfd p = { .fd = x->inotify, .events = POLLIN };
	uint64_t deadline = stats_now_ns() + SPAWN_WAIT_MS * 1000000ull;
	int state;

	while ((state = log_state(log)) == 0) {
		uint64_t now = stats_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)((deadline - now) / 1000000) + 1) > 0)
			(void)!read(x->inotify, buf, sizeof(buf));
	}
	return state == 1 ? 0 : -EOPNOTSUPP;
}

static int python_ready(struct spawn_ctx *x, uint64_t *ret_ns)
{
	char payload[3 * PATH_MAX], log[PATH_MAX + 64], err[256], name[32];
	pid_t pid = 0;
	int r;

	snprintf(name, sizeof(name), "py-%u", ++x->seq);
	snprintf(log, sizeof(log), "%s/%s.log", x->logs, name);
	snprintf(payload, sizeof(payload),
		 "{\"name\":\"%s\",\"script\":\"%s\",\"python\":\"%s\"}", name,
		 x->pyscript, x->python);
	uint64_t t0 = stats_now_ns();
	r = spawn_agent(x, payload, &pid, err, sizeof(err));
	if (r == 0)
		r = wait_ready(x, log);
	*ret_ns = stats_now_ns() - t0;
	/* The agent exits after its line: wait, so that it does not run
	 * into the next measurement. */
	if (pid > 0)
		(void)wait_exit(pid);
	return r;
}

static void find_python(const struct bench_opts *o, char *buf, size_t len)
{
	if (o->python[0]) {
		snprintf(buf, len, "%s", o->python);
		return;
	}
	snprintf(buf, len, "%s/.venv/bin/python", BENCH_REPO_DIR);
	if (access(buf, X_OK) != 0)
		snprintf(buf, len, "/usr/bin/python3");
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	for (const char *d = path ? path : "/usr/bin:/bin"; *d;) {
		const char *end = strchrnul(d, ':');
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - d), d, prog);
		if (access(buf, X_OK) == 0)
			return true;
		d = *end ? end + 1 : end;
	}
	return false;
}

static int ctx_init(struct spawn_ctx *x, const struct bench_opts *o,
		    const struct kernel_proc *kp, char *err, size_t errlen)
{
	int r;

	*x = (struct spawn_ctx){ .o = o, .inotify = -EBADF };
	find_python(o, x->python, sizeof(x->python));
	if (kernel_proc_path(kp, "empty-agent.py", x->empty, sizeof(x->empty)) <
		    0 ||
	    kernel_proc_path(kp, "ready-agent.py", x->pyscript,
			     sizeof(x->pyscript)) < 0 ||
	    kernel_proc_path(kp, "state/logs", x->logs, sizeof(x->logs)) < 0) {
		snprintf(err, errlen, "temporary path too long");
		return -ENAMETOOLONG;
	}
	r = write_file(x->empty, "");
	if (r == 0)
		r = write_file(x->pyscript, py_agent);
	if (r < 0) {
		snprintf(err, errlen, "cannot write the agent scripts: %s",
			 strerror(-r));
		return r;
	}
	x->inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (x->inotify < 0 ||
	    inotify_add_watch(x->inotify, x->logs, IN_MODIFY) < 0) {
		r = negative_errno();
		snprintf(err, errlen, "inotify on %.200s: %s", x->logs,
			 strerror(-r));
		return r;
	}
	r = clove_connect(kp->socket, &x->c);
	if (r < 0)
		snprintf(err, errlen, "cannot connect to cloved: %s",
			 strerror(-r));
	return r;
}

static void ctx_done(struct spawn_ctx *x)
{
	clove_close(x->c);
	closep(&x->inotify);
}

/* Takes up to count samples of f (warm-up runs are not kept). */
static void take(struct spawn_ctx *x, struct figure *f, unsigned count,
		 bool keep)
{
	for (unsigned i = 0; i < count && !f->done && f->n < f->want; i++) {
		uint64_t ns = 0;
		int r = f->once(x, &ns);
		if (r == -EOPNOTSUPP) {
			snprintf(
				f->res->skipped, sizeof(f->res->skipped),
				"the agent could not import clove_sdk with %.150s",
				x->python);
			f->done = true;
		} else if (r < 0) {
			bench_fail(f->res, r, "sample %zu failed: %s", f->n,
				   strerror(-r));
			f->done = true;
		} else if (keep) {
			f->samples[f->n++] = ns;
		}
	}
}

static void summarize(struct figure *f)
{
	if (f->n == 0 || f->done)
		return;
	stats_summary_ns(f->samples, f->n, &f->res->p50, &f->res->p99);
	/* stats gives microseconds; these figures are in milliseconds. */
	f->res->p50 /= 1000.0;
	f->res->p99 /= 1000.0;
	f->res->n = f->n;
}

static void run_rounds(struct spawn_ctx *x, struct figure *figs, size_t nfigs)
{
	bool more = true;

	for (size_t i = 0; i < nfigs; i++)
		if (!figs[i].done)
			take(x, &figs[i], SPAWN_WARMUP, false);
	while (more) {
		more = false;
		for (size_t i = 0; i < nfigs; i++) {
			unsigned per_round = MAX(
				1u, SPAWN_ROUND * figs[i].want / figs[0].want);
			take(x, &figs[i], per_round, true);
			more |= !figs[i].done && figs[i].n < figs[i].want;
		}
	}
	for (size_t i = 0; i < nfigs; i++)
		summarize(&figs[i]);
}

static void set_targets(struct bench_result *res)
{
	struct bench_result *sb = &res[SPAWN_RES_SANDBOXED];
	struct bench_result *bw = &res[SPAWN_RES_BWRAP];

	if (bw->n > 0) {
		sb->baseline = bw->p50;
		res[SPAWN_RES_UNSANDBOXED].baseline = bw->p50;
		snprintf(sb->target, sizeof(sb->target),
			 "p50 <= baseline.bwrap.true p50 (%.2f ms)", bw->p50);
		if (sb->n > 0) {
			sb->extra = json_object();
			json_object_set_new(sb->extra, "target_met",
					    json_boolean(sb->p50 <= bw->p50));
		}
	}
	snprintf(sb->note, sizeof(sb->note),
		 "request to exit of /bin/true as a sandboxed agent "
		 "(exit seen through a pidfd of the replied pid)");
	snprintf(res[SPAWN_RES_PYTHON].note, sizeof(res[SPAWN_RES_PYTHON].note),
		 "request to the end of the agent's first syscall (HELLO via "
		 "clove_sdk), announced in its log and seen with inotify");
}

void spawn_results_init(struct bench_result *res)
{
	bench_result_init(&res[SPAWN_RES_SANDBOXED], "spawn.sandboxed.true",
			  "ms");
	bench_result_init(&res[SPAWN_RES_UNSANDBOXED], "spawn.unsandboxed.true",
			  "ms");
	bench_result_init(&res[SPAWN_RES_PYTHON],
			  "spawn.sandboxed.python_ready", "ms");
	bench_result_init(&res[SPAWN_RES_BWRAP], "baseline.bwrap.true", "ms");
	bench_result_init(&res[SPAWN_RES_UNSHARE], "baseline.unshare.true",
			  "ms");
}

int spawn_bench_run(const struct bench_opts *o, const struct kernel_proc *kp,
		    struct bench_result *res)
{
	unsigned n = o->iterations, npy = MAX(10u, n / 10);
	struct figure figs[] = {
		{ &res[SPAWN_RES_SANDBOXED], sandboxed_true, n },
		{ &res[SPAWN_RES_BWRAP], bwrap_true, n },
		{ &res[SPAWN_RES_UNSHARE], unshare_true, n },
		{ &res[SPAWN_RES_UNSANDBOXED], unsandboxed_true, n },
		{ &res[SPAWN_RES_PYTHON], python_ready, npy },
	};
	struct spawn_ctx x;
	char err[512];
	int r;

	r = ctx_init(&x, o, kp, err, sizeof(err));
	for (size_t i = 0; i < ELEMENTSOF(figs); i++) {
		figs[i].samples = calloc(figs[i].want, sizeof(uint64_t));
		if (r < 0)
			bench_fail(figs[i].res, r, "%s", err);
		else if (!figs[i].samples)
			bench_fail(figs[i].res, -ENOMEM, "out of memory");
		figs[i].done = r < 0 || !figs[i].samples;
	}
	if (!on_path("bwrap")) {
		snprintf(res[SPAWN_RES_BWRAP].skipped,
			 sizeof(res[SPAWN_RES_BWRAP].skipped),
			 "bwrap is not installed (Debian package bubblewrap)");
		figs[1].done = true;
	}
	if (!on_path("unshare")) {
		snprintf(
			res[SPAWN_RES_UNSHARE].skipped,
			sizeof(res[SPAWN_RES_UNSHARE].skipped),
			"unshare is not installed (Debian package util-linux)");
		figs[2].done = true;
	}
	if (r == 0)
		run_rounds(&x, figs, ELEMENTSOF(figs));
	set_targets(res);
	for (size_t i = 0; i < ELEMENTSOF(figs); i++)
		free(figs[i].samples);
	ctx_done(&x);
	return r;
}
