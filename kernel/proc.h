/* SPDX-License-Identifier: MIT */
/*
 * Starting child processes (EXEC commands and agents) with clone3 and a
 * pidfd. The child is set up (fds, session, cwd) and exec'd; a failure in
 * the child is reported back through a CLOEXEC pipe as (step, errno), so the
 * caller learns exactly what failed. The parent does not wait for the child
 * to finish: it supervises it through the returned pidfd on the loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sandbox_spec;

struct proc_spec {
	/* Program; looked up in PATH (of envp) when it has no '/'. */
	const char *path;
	char *const *argv;
	char *const *envp;
	/* NULL: inherit. */
	const char *cwd;
	/* Become fds 0, 1, 2 in the child; -1 means /dev/null. */
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;
	/* If >= 0, becomes fd 3 (without CLOEXEC) in the child. */
	int pass_fd;
	/* NULL: none. Else the child is started inside this sandbox (new
	 * namespaces, or an agent's joined) and locked down (sandbox.h). */
	const struct sandbox_spec *sandbox;
	/* cgroups (cgroup.h). cgroup_fd: a cgroup v2 directory the child is
	 * created in (clone3 CLONE_INTO_CGROUP), so it is inside its limits
	 * from its first instruction; -1 (any value <= 0: 0 is stdin, never a
	 * cgroup, so a zero-initialised spec means none) = the parent's.
	 * cgroup_procs_fds: v1 "cgroup.procs" files opened for writing; the
	 * child writes "0" into each before anything else, so it has joined
	 * those cgroups before it execs. */
	int cgroup_fd;
	const int *cgroup_procs_fds;
	size_t n_cgroup_procs_fds;
};

#define PROC_FAIL_PATH_MAX 512

/* Where a spawn failed, for the error message. */
struct proc_failure {
	const char *step; /* "dup2", "chdir", "execve", "bind", ... */
	int err;          /* positive errno */
	/* A step of the sandbox setup (sandbox.h), not of proc itself. */
	bool sandbox;
	/* The path the step failed on (sandbox steps), or "". */
	char path[PROC_FAIL_PATH_MAX];
};

/*
 * Starts the child in a new session (its own process group, pgid == pid).
 * Returns 0 with *ret_pid and *ret_pidfd (CLOEXEC) set, or -errno; when the
 * failure happened in the child, *ret_fail says at which step.
 */
int proc_spawn(const struct proc_spec *spec, pid_t *ret_pid, int *ret_pidfd,
	       struct proc_failure *ret_fail);

/* Reaps an exited child through its pidfd. Returns 0 with the wait status
 * decoded (exit code, or signal), -EAGAIN if it has not exited. */
int proc_reap(int pidfd, int *ret_exit_code, int *ret_signal);
