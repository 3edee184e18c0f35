/* SPDX-License-Identifier: MIT */
/*
 * The EXEC allowlist. A policy's exec[] patterns are matched against the
 * program a request would really run: argv[0] looked up in PATH the way
 * execvpe does (relative names against the command's working directory),
 * then made canonical with realpath(3), so neither a symlink nor a name
 * found earlier in a caller-chosen PATH can pass for an allowed program.
 * The caller then executes that canonical path, not argv[0] again. Never a
 * substring of a command line: "ls; cat /etc/shadow" as argv is one
 * literal argument, and as a shell command it runs /bin/sh, which must be
 * allowed itself (and then the whole line runs — a shell can do anything
 * the sandbox lets it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "perm-policy.h"

/*
 * The canonical path of the program prog names: prog itself when it has a
 * '/' (relative to cwd), else the first executable regular file in the
 * directories of path_env (NULL: "/bin:/usr/bin"). 0, -ENOENT, -EACCES
 * (found, not executable), -ENAMETOOLONG.
 */
int perm_exec_resolve(const char *prog, const char *path_env, const char *cwd,
		      char *buf, size_t len);

/*
 * May policy p run prog? 0 with the canonical program in buf ("" when the
 * policy allows every program and nothing was looked up: run prog as
 * given), -EACCES with why (can_exec false, or not in exec[]), or the
 * lookup's -ENOENT/-EACCES with why naming prog.
 */
int perm_exec_check(const struct perm_policy *p, const char *prog,
		    const char *path_env, const char *cwd, char *buf,
		    size_t len, struct perm_why *why);

/*
 * With a restricted exec[], the environment must not make an allowed
 * program load other code: LD_*, GCONV_PATH, GLIBC_TUNABLES and the like
 * are refused (-EACCES, why names the variable). envp: "NAME=value"
 * strings, NULL-terminated.
 */
int perm_exec_check_env(const struct perm_policy *p, char *const *envp,
			struct perm_why *why);
