/* SPDX-License-Identifier: MIT */
/*
 * Program lookup and the exec[] allowlist check (see perm-exec.h). The
 * lookup mirrors proc.c's execvpe-like search, so the program checked is
 * the program that would have run; the caller then runs the canonical path
 * found here.
 */
#include "perm-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "perm-glob.h"

/* glibc's execvpe default when the environment has no PATH (as proc.c). */
#define PERM_DEFAULT_PATH "/bin:/usr/bin"

/* Environment variables that make the dynamic loader or libc load code or
 * data chosen by the caller into an otherwise allowed program. */
static const char *const loader_env[] = {
	"GCONV_PATH",	"GLIBC_TUNABLES",   "LOCPATH", "NLSPATH", "HOSTALIASES",
	"MALLOC_TRACE", "RESOLV_HOST_CONF", "TZDIR",   NULL,
};

/* dir/name, dir relative to cwd when it does not start with '/'. */
static int join(const char *cwd, const char *dir, size_t dlen, const char *name,
		char *buf, size_t len)
{
	int n;

	if (dlen > 0 && dir[0] == '/')
		n = snprintf(buf, len, "%.*s/%s", (int)dlen, dir, name);
	else if (dlen > 0)
		n = snprintf(buf, len, "%s/%.*s/%s", cwd ? cwd : ".", (int)dlen,
			     dir, name);
	else
		n = snprintf(buf, len, "%s/%s", cwd ? cwd : ".", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* 0 with the canonical path if candidate is an executable regular file. */
static int try_candidate(const char *candidate, char *buf, size_t len)
{
	char real[PATH_MAX];
	struct stat st;

	if (!realpath(candidate, real) || stat(real, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || access(real, X_OK) < 0)
		return -EACCES;
	if (strlen(real) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, real);
	return 0;
}

int perm_exec_resolve(const char *prog, const char *path_env, const char *cwd,
		      char *buf, size_t len)
{
	char candidate[PATH_MAX];
	bool eacces = false;
	int r;

	if (!prog[0])
		return -ENOENT;
	if (prog[0] == '/')
		return try_candidate(prog, buf, len);
	if (strchr(prog, '/')) {
		r = join(cwd, "", 0, prog, candidate, sizeof(candidate));
		return r < 0 ? r : try_candidate(candidate, buf, len);
	}
	if (!path_env)
		path_env = PERM_DEFAULT_PATH;
	for (const char *dir = path_env;; dir++) {
		const char *end = strchrnul(dir, ':');
		if (join(cwd, dir, (size_t)(end - dir), prog, candidate,
			 sizeof(candidate)) == 0) {
			r = try_candidate(candidate, buf, len);
			if (r == 0)
				return 0;
			eacces |= r == -EACCES;
		}
		if (!*end)
			break;
		dir = end;
	}
	return eacces ? -EACCES : -ENOENT;
}

int perm_exec_check(const struct perm_policy *p, const char *prog,
		    const char *path_env, const char *cwd, char *buf,
		    size_t len, struct perm_why *why)
{
	int r;

	if (!p->can_exec) {
		snprintf(why->msg, sizeof(why->msg),
			 "running '%.200s' refused: the policy has can_exec "
			 "false",
			 prog);
		return -EACCES;
	}
	if (len > 0)
		buf[0] = '\0';
	if (perm_list_allows_all(&p->exec))
		return 0;
	r = perm_exec_resolve(prog, path_env, cwd, buf, len);
	if (r < 0) {
		snprintf(why->msg, sizeof(why->msg), "cannot run %.200s: %s",
			 prog, r == -ENOENT ? "no such program" : strerror(-r));
		return r;
	}
	for (size_t i = 0; i < p->exec.n; i++)
		if (perm_glob_match(p->exec.v[i], buf))
			return 0;
	snprintf(why->msg, sizeof(why->msg),
		 "running '%.200s' refused: it is '%.200s', which is not in "
		 "the policy's exec list",
		 prog, buf);
	return -EACCES;
}

int perm_exec_check_env(const struct perm_policy *p, char *const *envp,
			struct perm_why *why)
{
	if (perm_list_allows_all(&p->exec))
		return 0;
	for (char *const *e = envp; e && *e; e++) {
		size_t n = strcspn(*e, "=");
		bool bad = n >= 3 && strncmp(*e, "LD_", 3) == 0;
		for (const char *const *l = loader_env; !bad && *l; l++)
			bad = strlen(*l) == n && strncmp(*e, *l, n) == 0;
		if (bad) {
			snprintf(why->msg, sizeof(why->msg),
				 "environment variable '%.*s' refused: it "
				 "would load other code into an allowed "
				 "program",
				 (int)MIN(n, 100), *e);
			return -EACCES;
		}
	}
	return 0;
}
