/* SPDX-License-Identifier: MIT */
/*
 * The last step into a sandbox and the process that stays behind. After
 * the lockdown (sandbox_lockdown), the sandboxed child forks once more:
 *
 * - For an agent, the child is PID 1 of the agent's PID namespace and
 *   stays there as its init, in C, never exec'ing: it reaps whatever gets
 *   re-parented to it, forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and
 *   SIGUSR2 to every process of the namespace, and when the agent ends it
 *   ends too, which makes the kernel kill whatever the agent left behind.
 *   A namespace's init cannot die of a signal it sends itself, so it exits
 *   with 128 + n when the agent was killed by signal n, after writing the
 *   agent's real status to the status pipe the kernel reads
 *   (sandbox_status_read): the kernel then reports what happened to the
 *   agent, not to its init. If init itself is killed (SIGKILL after a KILL
 *   grace period), no status is written and its own status stands.
 * - For EXEC, the child has joined the agent's namespaces; its fork is the
 *   first process to land in the agent's PID namespace. The joiner stays
 *   outside, waits for the command and ends the same way it did — dying of
 *   the same signal, which it can, not being an init.
 *
 * Either way the forked process gets Landlock last and execs. It is made
 * with vfork: it borrows its parent's memory until its exec, instead of
 * copying the kernel's page tables once more, which is why it must exec
 * (or exit) from inside sandbox_child_finish() and never return from it.
 * The one staying behind closes every fd it does not need first (it is a
 * copy of the kernel and would otherwise hold the kernel's sockets).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-internal.h"

static void forwarded_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
}

/* Closes every fd but keep (which may be -1). */
static void close_all_but(int keep)
{
	if (keep > 0)
		(void)close_range(0, (unsigned)keep - 1, 0);
	(void)close_range(keep >= 0 ? (unsigned)keep + 1 : 0, ~0U, 0);
}

_Noreturn static void init_finish(int status_fd, int wstatus)
{
	struct sandbox_status st = { .magic = SANDBOX_STATUS_MAGIC,
				     .code = -1 };

	if (WIFEXITED(wstatus))
		st.code = WEXITSTATUS(wstatus);
	else
		st.signal = WTERMSIG(wstatus);
	if (status_fd >= 0)
		(void)!write(status_fd, &st, sizeof(st));
	_exit(st.signal ? 128 + st.signal : st.code);
}

/* PID 1 of an agent's namespace, until the agent ends. */
_Noreturn static void init_run(pid_t agent, int status_fd,
			       const sigset_t *waited)
{
	(void)prctl(PR_SET_NAME, "clove-init", 0, 0, 0);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(waited, &si), wstatus;
		pid_t pid;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* Everyone in the namespace but init itself. */
			(void)kill(-1, sig);
			continue;
		}
		while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
			if (pid == agent)
				init_finish(status_fd, wstatus);
	}
}

/* The EXEC joiner, until its command ends. */
_Noreturn static void waiter_run(pid_t child)
{
	int wstatus, sig;
	sigset_t one;

	while (waitpid(child, &wstatus, 0) < 0)
		if (errno != EINTR)
			_exit(127);
	if (WIFEXITED(wstatus))
		_exit(WEXITSTATUS(wstatus));
	sig = WTERMSIG(wstatus);
	(void)signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	(void)sigprocmask(SIG_UNBLOCK, &one, NULL);
	(void)kill(getpid(), sig);
	_exit(128 + sig);
}

/* The vforked child: it shares its parent's memory until it execs, so it
 * only makes system calls and writes to its own stack frames. */
static void child_last(const struct sandbox_spec *s, sandbox_exec_fn exec,
		       void *arg, const sigset_t *none)
{
	struct sandbox_fail f = { 0 };
	int r = 0;

	if (s->join_pidfd >= 0)
		/* The joiner is outside this PID namespace: if it dies, so
		 * does the command (and nobody is left to wait for it). */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (sigprocmask(SIG_SETMASK, none, NULL) < 0) {
		r = negative_errno();
		f.step = SANDBOX_STEP_SIGNALS;
	}
	if (r == 0)
		r = sandbox_landlock_apply(s, &f);
	exec(arg, r, &f);
	_exit(127);
}

int sandbox_child_finish(const struct sandbox_spec *s, int report_fd,
			 sandbox_exec_fn exec, void *arg,
			 struct sandbox_fail *f)
{
	bool init = s->join_pidfd < 0;
	sigset_t waited, none;
	pid_t pid;
	int r;

	r = sandbox_lockdown(s, f);
	if (r < 0)
		return r;
	forwarded_signals(&waited);
	sigaddset(&waited, SIGCHLD);
	sigemptyset(&none);
	/* Blocked before the fork, so that no SIGCHLD and no forwarded
	 * signal is lost before init waits for them. */
	if (init && sigprocmask(SIG_BLOCK, &waited, NULL) < 0) {
		f->step = SANDBOX_STEP_SIGNALS;
		return negative_errno();
	}
	pid = vfork();
	if (pid < 0) {
		f->step = SANDBOX_STEP_FORK;
		return negative_errno();
	}
	if (pid == 0)
		child_last(s, exec, arg, &none);
	close(report_fd);
	if (!init) {
		close_all_but(-1);
		waiter_run(pid);
	}
	close_all_but(s->status_fd);
	init_run(pid, s->status_fd, &waited);
}

int sandbox_status_read(int fd, int *ret_code, int *ret_signal)
{
	struct sandbox_status st;
	ssize_t n;

	if (fd < 0)
		return -ENOENT;
	do
		n = read(fd, &st, sizeof(st));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(st) || st.magic != SANDBOX_STATUS_MAGIC)
		return -ENOENT;
	if (st.signal > 0) {
		*ret_code = -1;
		*ret_signal = st.signal;
	} else {
		*ret_code = st.code;
		*ret_signal = 0;
	}
	return 0;
}
