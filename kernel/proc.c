/* SPDX-License-Identifier: MIT */
/*
 * Child processes for EXEC and agents. proc_spawn() prepares everything the
 * child needs (program candidates from PATH, /dev/null, a report pipe) and
 * then calls clone3 with CLONE_PIDFD | CLONE_VFORK: fork semantics (the
 * child has its own copy of memory) while the parent sleeps only until the
 * child has exec'd or exited. After that the report pipe already holds the
 * child's (step, errno) if a step failed, so the caller gets a precise error
 * without a blocking wait. Between clone3 and execve the child makes only
 * async-signal-safe calls, because it is a copy of a process whose other
 * state (locks, allocator) may be in any shape. A child can be created
 * inside a cgroup v2 directory (CLONE_INTO_CGROUP) and joins v1 cgroups as
 * its first step, so limits hold before the program runs.
 *
 * With a sandbox (proc_spec.sandbox) clone3 also makes the new namespaces
 * and the child sets up the sandbox around the same steps (sandbox.h). Its
 * PID 1 never execs, so CLONE_VFORK is not used then: the parent waits on
 * the report pipe alone, which reaches EOF once the agent has exec'd and
 * PID 1 has closed its copy. A sandbox step reports its path too.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox.h"

/* The child's fds are first moved to numbers at or above this, so that
 * placing them on 0..3 never overwrites a source that is still needed. */
#define PROC_HIGH_FD 10
/* glibc's execvpe default when the environment has no PATH. */
#define PROC_DEFAULT_PATH "/bin:/usr/bin"

extern char **environ;

enum proc_step {
	PROC_STEP_CGROUP,
	PROC_STEP_SIGNALS,
	PROC_STEP_SETSID,
	PROC_STEP_DUP,
	PROC_STEP_DUP2,
	PROC_STEP_CHDIR,
	PROC_STEP_EXECVE,
	PROC_STEP_MAX,
};

static const char *const step_names[PROC_STEP_MAX] = {
	[PROC_STEP_CGROUP] = "cgroup",	 /* joining v1 cgroups */
	[PROC_STEP_SIGNALS] = "signals", /* default dispositions, no mask */
	[PROC_STEP_SETSID] = "setsid",	 /* a new session and group */
	[PROC_STEP_DUP] = "dup",	 /* moving fds out of the way */
	[PROC_STEP_DUP2] = "dup2",	 /* placing them on 0..3 */
	[PROC_STEP_CHDIR] = "chdir",	 /* the working directory */
	[PROC_STEP_EXECVE] = "execve",	 /* the program, via PATH */
};

/* What the child writes to the report pipe when a step fails (one write
 * below PIPE_BUF, so it arrives whole). Steps from SANDBOX_STEP_BASE on
 * are the sandbox's. */
struct proc_report {
	int step;
	int err;
	char path[PROC_FAIL_PATH_MAX];
};

/* Everything the child uses, prepared by the parent before clone3. */
struct proc_plan {
	/* Sources for fds 0, 1, 2 and 3 (-1: leave fd 3 alone). */
	int src[4];
	/* Programs to try in order, NULL-terminated. */
	char **candidates;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	const struct sandbox_spec *sandbox;
	int report_fd;
	/* v1 cgroup.procs fds to write "0" into. */
	const int *cgroup_procs;
	size_t ncgroup_procs;
};

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void strv_freep(char ***v)
{
	strv_free(*v);
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/*
 * The programs to try: path itself when it contains a '/', else path in
 * every directory of envp's PATH (an empty entry means the working
 * directory, as in execvpe). Directories that would make too long a path
 * are skipped, as glibc does.
 */
static int build_candidates(const char *path, char *const *envp, char ***ret)
{
	_cleanup_(strv_freep) char **v = NULL;
	size_t n = 0, flen = strlen(path);

	if (flen == 0)
		return -ENOENT;
	if (strchr(path, '/')) {
		v = calloc(2, sizeof(char *));
		if (!v || !(v[0] = strdup(path)))
			return -ENOMEM;
		*ret = take_ptr(v);
		return 0;
	}
	if (flen > NAME_MAX)
		return -ENAMETOOLONG;

	const char *search = env_get(envp, "PATH");
	if (!search)
		search = PROC_DEFAULT_PATH;
	size_t max = 2;
	for (const char *s = search; *s; s++)
		max += *s == ':';
	v = calloc(max, sizeof(char *));
	if (!v)
		return -ENOMEM;

	for (const char *dir = search;; dir++) {
		const char *end = strchrnul(dir, ':');
		size_t dlen = (size_t)(end - dir);
		if (dlen == 0) {
			dir = ".";
			dlen = 1;
		}
		if (dlen + 1 + flen < PATH_MAX) {
			char *c = malloc(dlen + 1 + flen + 1);
			if (!c)
				return -ENOMEM;
			memcpy(c, dir, dlen);
			c[dlen] = '/';
			memcpy(c + dlen + 1, path, flen + 1);
			v[n++] = c;
		}
		if (!*end)
			break;
		dir = end;
	}
	if (n == 0)
		return -ENOENT;
	*ret = take_ptr(v);
	return 0;
}

_Noreturn static void child_fail_path(const struct proc_plan *p, int step,
				      int err, const char *path)
{
	struct proc_report rep = { .step = step, .err = err };

	if (path) {
		size_t n = strnlen(path, sizeof(rep.path));
		if (n == sizeof(rep.path)) {
			/* Too long: its start, marked as cut. */
			n -= 4;
			memcpy(rep.path + n, "...", 3);
		}
		memcpy(rep.path, path, n);
	}
	/* If even this fails the parent sees a clean exec and exit code 127. */
	(void)!write(p->report_fd, &rep, sizeof(rep));
	_exit(127);
}

_Noreturn static void child_fail(const struct proc_plan *p, enum proc_step step,
				 int err)
{
	child_fail_path(p, step, err, NULL);
}

/* Tries each candidate like execvpe: EACCES is remembered and reported
 * only if nothing else is found; "not here" errors move on. */
_Noreturn static void child_exec(const struct proc_plan *p)
{
	bool eacces = false;
	int err = ENOENT;

	for (char **c = p->candidates; *c; c++) {
		execve(*c, p->argv, p->envp);
		err = errno;
		switch (err) {
		case EACCES:
			eacces = true;
			break;
		case ENOENT:
		case ENOTDIR:
		case ESTALE:
		case ENODEV:
		case ETIMEDOUT:
			break;
		default:
			child_fail(p, PROC_STEP_EXECVE, err);
		}
	}
	child_fail(p, PROC_STEP_EXECVE, eacces ? EACCES : err);
}

static void child_exec_or_fail(void *arg, int err, const struct sandbox_fail *f)
{
	const struct proc_plan *p = arg;

	if (err < 0)
		child_fail_path(p, f->step, -err, f->path);
	child_exec(p);
}

_Noreturn static void child_run(const struct proc_plan *p)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int high[4];

	/* First, so that everything after counts against the limits. */
	for (size_t i = 0; i < p->ncgroup_procs; i++)
		if (write(p->cgroup_procs[i], "0", 1) != 1)
			child_fail(p, PROC_STEP_CGROUP, errno ? errno : EIO);

	/* The kernel blocks its shutdown signals (for its signalfd) and
	 * ignores SIGPIPE; both would survive execve. Errors for signals that
	 * cannot be changed (SIGKILL, glibc's internal ones) do not matter. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(p, PROC_STEP_SIGNALS, errno);

	if (setsid() < 0)
		child_fail(p, PROC_STEP_SETSID, errno);

	struct sandbox_fail sf = { 0 };
	int r;
	if (p->sandbox && (r = sandbox_child_enter(p->sandbox, &sf)) < 0)
		child_fail_path(p, sf.step, -r, sf.path);

	for (int i = 0; i < 4; i++) {
		high[i] = -1;
		if (p->src[i] >= 0) {
			high[i] =
				fcntl(p->src[i], F_DUPFD_CLOEXEC, PROC_HIGH_FD);
			if (high[i] < 0)
				child_fail(p, PROC_STEP_DUP, errno);
		}
	}
	/* dup2 clears CLOEXEC on the target; the sources differ from the
	 * targets (all >= PROC_HIGH_FD), so it always does. */
	for (int i = 0; i < 4; i++)
		if (high[i] >= 0 && dup2(high[i], i) < 0)
			child_fail(p, PROC_STEP_DUP2, errno);
	/* Belt and braces: whatever the kernel inherited without CLOEXEC
	 * (e.g. from its own parent) must not reach the program. */
	(void)close_range(high[3] >= 0 ? 4 : 3, ~0U, CLOSE_RANGE_CLOEXEC);

	if (p->cwd && chdir(p->cwd) < 0)
		child_fail(p, PROC_STEP_CHDIR, errno);
	/* Returns only on a failure; the process inside the sandbox runs
	 * child_exec_or_fail(). */
	if (p->sandbox) {
		r = sandbox_child_finish(p->sandbox, p->report_fd,
					 child_exec_or_fail, (void *)p, &sf);
		child_fail_path(p, sf.step, -r, sf.path);
	}

	child_exec(p);
}

/* Waits for the child after its reported failure: it has written the
 * report and is exiting, so this returns at once. */
static void reap_failed(int pidfd)
{
	siginfo_t si;

	while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 &&
	       errno == EINTR)
		;
}

static void fail(struct proc_failure *ret_fail, const char *step, int err)
{
	if (ret_fail) {
		ret_fail->step = step;
		ret_fail->err = err;
		ret_fail->sandbox = false;
		ret_fail->path[0] = '\0';
	}
}

static const char *report_step(const struct proc_report *rep)
{
	const char *name = sandbox_step_name(rep->step);

	if (name)
		return name;
	if (rep->step >= 0 && rep->step < PROC_STEP_MAX)
		return step_names[rep->step];
	return "child";
}

/* clone3, then the parent's half: learn from the report pipe whether the
 * child got as far as a successful execve. */
static int spawn_plan(struct proc_plan *p, int cgroup_fd, int report_rd,
		      pid_t *ret_pid, int *ret_pidfd,
		      struct proc_failure *ret_fail)
{
	int pidfd = -1;
	struct clone_args args = {
		.flags = CLONE_PIDFD |
			 (p->sandbox ? sandbox_clone_flags(p->sandbox)
				     : CLONE_VFORK),
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	struct proc_report rep;
	ssize_t n;

	if (cgroup_fd > 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
	}
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		int r = negative_errno();
		fail(ret_fail,
		     cgroup_fd > 0 ? "clone3 into the cgroup" : "clone3", -r);
		return r;
	}
	if (pid == 0)
		child_run(p);

	/* Our copy of the write end must go, or the read below would wait
	 * for a successful child forever. */
	close(p->report_fd);
	p->report_fd = -EBADF;
	do
		n = read(report_rd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);

	if (n == (ssize_t)sizeof(rep)) {
		reap_failed(pidfd);
		close(pidfd);
		if (rep.err <= 0)
			rep.err = EIO;
		fail(ret_fail, report_step(&rep), rep.err);
		if (ret_fail) {
			ret_fail->sandbox = sandbox_step_name(rep.step) != NULL;
			rep.path[sizeof(rep.path) - 1] = '\0';
			memcpy(ret_fail->path, rep.path, sizeof(rep.path));
		}
		return -rep.err;
	}
	/* EOF: execve closed the CLOEXEC write end, the program runs. */
	*ret_pid = (pid_t)pid;
	*ret_pidfd = pidfd;
	return 0;
}

int proc_spawn(const struct proc_spec *spec, pid_t *ret_pid, int *ret_pidfd,
	       struct proc_failure *ret_fail)
{
	_cleanup_(strv_freep) char **candidates = NULL;
	_cleanup_close_ int null_fd = -EBADF;
	_cleanup_close_ int report_rd = -EBADF, report_wr = -EBADF;
	char *const *envp = spec->envp ? spec->envp : environ;
	int pipefd[2];
	int r;

	r = build_candidates(spec->path, envp, &candidates);
	if (r < 0) {
		fail(ret_fail, "execve", -r);
		return r;
	}

	if (spec->stdin_fd < 0 || spec->stdout_fd < 0 || spec->stderr_fd < 0) {
		null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (null_fd < 0) {
			r = negative_errno();
			fail(ret_fail, "open /dev/null", -r);
			return r;
		}
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = negative_errno();
		fail(ret_fail, "pipe", -r);
		return r;
	}
	report_rd = pipefd[0];
	report_wr = pipefd[1];

	struct proc_plan plan = {
		.src = {
			spec->stdin_fd >= 0 ? spec->stdin_fd : null_fd,
			spec->stdout_fd >= 0 ? spec->stdout_fd : null_fd,
			spec->stderr_fd >= 0 ? spec->stderr_fd : null_fd,
			spec->pass_fd >= 0 ? spec->pass_fd : -1,
		},
		.candidates = candidates,
		.argv = spec->argv,
		.envp = envp,
		.cwd = spec->cwd,
		.sandbox = spec->sandbox,
		.report_fd = take_fd(report_wr),
		.cgroup_procs = spec->cgroup_procs_fds,
		.ncgroup_procs = spec->n_cgroup_procs_fds,
	};
	r = spawn_plan(&plan, spec->cgroup_fd, report_rd, ret_pid, ret_pidfd,
		       ret_fail);
	if (plan.report_fd >= 0)
		close(plan.report_fd);
	return r;
}

int proc_reap(int pidfd, int *ret_exit_code, int *ret_signal)
{
	siginfo_t si = { 0 };
	int code, sig;

	if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0)
		return negative_errno();
	if (si.si_pid == 0)
		return -EAGAIN;

	switch (si.si_code) {
	case CLD_EXITED:
		code = si.si_status;
		sig = 0;
		break;
	case CLD_KILLED:
	case CLD_DUMPED:
		/* The shell's convention, which EXEC's reply documents. */
		sig = si.si_status;
		code = 128 + sig;
		break;
	default:
		return -EIO;
	}
	if (ret_exit_code)
		*ret_exit_code = code;
	if (ret_signal)
		*ret_signal = sig;
	return 0;
}
