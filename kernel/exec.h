/* SPDX-License-Identifier: MIT */
/*
 * EXEC jobs: one command started with proc_spawn() and supervised on the
 * loop until it has ended, its output gathered (bounded) and its reply sent.
 * sys-exec.c validates the request and builds the argv and environment;
 * this module owns the process, its pipes, its timers and the reply.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct kernel;
struct request;
struct proc_failure;
struct sandbox_spec;

struct exec_params {
	/* argv[0] is the program, looked up in envp's PATH without a '/'. */
	char *const *argv;
	/* If set, the program to run instead of looking argv[0] up: the
	 * canonical path the permission check allowed. */
	const char *path;
	char *const *envp;
	const char *cwd;
	/* Written to the command's stdin (copied); empty: /dev/null. */
	const void *stdin_data;
	size_t stdin_len;
	/* Shown in the ETIMEDOUT message. */
	double timeout_s;
	uint64_t timeout_ms;
	/* Bytes kept per stream; the rest is read and dropped. */
	size_t max_output;
	/* NULL: run on the host. Else the join spec of the calling agent's
	 * sandbox: the command runs in its namespaces, locked down alike. */
	const struct sandbox_spec *sandbox;
	/* The cgroup to run in (an agent's: see struct proc_spec); <= 0 and
	 * none: the kernel's. */
	int cgroup_fd;
	const int *cgroup_procs_fds;
	size_t n_cgroup_procs_fds;
};

/*
 * Starts the command for req. Returns 0 once req is taken: it is answered
 * when the command has ended (possibly before this returns). Otherwise
 * returns -errno, nothing is left behind and the caller answers req; if the
 * failure happened in the child, *ret_fail says at which step.
 */
int exec_start(struct request *req, const struct exec_params *p,
	       struct proc_failure *ret_fail);

/* Shutdown: SIGKILL the process group of every running command of k. The
 * jobs then finish (and reply) as their pipes close. */
void exec_kill_all(struct kernel *k);

/* After the loop is freed: releases the jobs of k that are still there,
 * without replying (their requests are gone with their connections). */
void exec_free_all(struct kernel *k);
