/* SPDX-License-Identifier: MIT */
/*
 * READ/WRITE path enforcement: the plan (which allowed root, which resolve
 * flags), the check of the opened fd, the translation of resolution errors
 * into refusals, and a synchronous open that strings them together. The
 * design is in perm-path.h and docs/permissions.md.
 */
#include "perm-path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "perm-glob.h"

int perm_openat2(int dfd, const char *path, struct open_how *how)
{
	long fd = syscall(SYS_openat2, dfd, path, how, sizeof(*how));

	return fd < 0 ? negative_errno() : (int)fd;
}

static const struct perm_list *allowed_list(const struct perm_policy *p,
					    enum perm_access a)
{
	return a == PERM_ACCESS_READ ? &p->read : &p->write;
}

static bool capable(const struct perm_policy *p, enum perm_access a)
{
	return a == PERM_ACCESS_READ ? p->can_read : p->can_write;
}

static const char *access_name(enum perm_access a)
{
	return a == PERM_ACCESS_READ ? "read" : "write";
}

/* The work directory is a literal root, never a pattern: a state
 * directory with '*' in its name must not match more than itself. */
static bool under(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

static const char *blocked_by(const struct perm_policy *p, const char *path)
{
	for (size_t i = 0; i < p->blocked.n; i++)
		if (perm_glob_match(p->blocked.v[i], path))
			return p->blocked.v[i];
	return NULL;
}

static bool allowed(const struct perm_policy *p, enum perm_access a,
		    const char *path, const char *work_dir)
{
	const struct perm_list *l = allowed_list(p, a);

	if (work_dir && under(work_dir, path))
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (perm_glob_match(l->v[i], path))
			return true;
	return false;
}

/* The longest root of an allowed pattern (or the work directory) that
 * path matches; "" if none. */
static int best_root(const struct perm_policy *p, enum perm_access a,
		     const char *path, const char *work_dir, char *best,
		     size_t len)
{
	const struct perm_list *l = allowed_list(p, a);
	char root[PATH_MAX];

	best[0] = '\0';
	if (work_dir && under(work_dir, path)) {
		if (strlen(work_dir) >= len)
			return -ENAMETOOLONG;
		strcpy(best, work_dir);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (!perm_glob_match(l->v[i], path))
			continue;
		int r = perm_glob_root(l->v[i], root, sizeof(root));
		if (r < 0)
			return r;
		if (strlen(root) > strlen(best) || !best[0]) {
			if (strlen(root) >= len)
				return -ENAMETOOLONG;
			strcpy(best, root);
		}
	}
	return 0;
}

int perm_path_plan(const struct perm_policy *p, enum perm_access a,
		   const char *path, const char *work_dir,
		   struct perm_path_plan *plan, struct perm_why *why)
{
	const char *b;
	int r;

	if (!capable(p, a)) {
		snprintf(why->msg, sizeof(why->msg),
			 "%s of '%.200s' refused: the policy has can_%s false",
			 access_name(a), path, access_name(a));
		return -EACCES;
	}
	if ((b = blocked_by(p, path))) {
		snprintf(why->msg, sizeof(why->msg),
			 "%s of '%.200s' refused: blocked by '%.200s'",
			 access_name(a), path, b);
		return -EACCES;
	}
	*plan = (struct perm_path_plan){ .resolve = RESOLVE_NO_MAGICLINKS };
	if (perm_list_allows_all(allowed_list(p, a)) && p->blocked.n == 0 &&
	    !p->no_symlinks) {
		plan->open_all = true;
		strcpy(plan->root, "/");
		if (strlen(path) >= sizeof(plan->rest))
			return -ENAMETOOLONG;
		strcpy(plan->rest, path);
		return 0;
	}
	r = best_root(p, a, path, work_dir, plan->root, sizeof(plan->root));
	if (r < 0)
		return r;
	if (!plan->root[0]) {
		snprintf(why->msg, sizeof(why->msg),
			 "%s of '%.200s' refused: not in the policy's %s paths",
			 access_name(a), path, access_name(a));
		return -EACCES;
	}
	const char *rest = path + strlen(plan->root);
	while (*rest == '/')
		rest++;
	snprintf(plan->rest, sizeof(plan->rest), "%s", *rest ? rest : ".");
	plan->resolve |= RESOLVE_BENEATH;
	if (p->no_symlinks)
		plan->resolve |= RESOLVE_NO_SYMLINKS;
	return 0;
}

void perm_path_root_how(struct open_how *how)
{
	*how = (struct open_how){
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
}

int perm_path_open_flags(const struct perm_path_plan *plan, int flags,
			 bool *ret_trunc)
{
	*ret_trunc = !plan->open_all && (flags & O_TRUNC);
	if (*ret_trunc)
		flags &= ~O_TRUNC;
	return flags | O_CLOEXEC;
}

int perm_path_check_fd(const struct perm_policy *p, enum perm_access a,
		       const struct perm_path_plan *plan, int fd,
		       const char *work_dir, struct perm_why *why)
{
	char link[64], real[PATH_MAX];
	const char *b;

	if (plan->open_all)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, sizeof(real) - 1);
	if (n < 0 || (size_t)n >= sizeof(real) - 1) {
		snprintf(why->msg, sizeof(why->msg),
			 "%s refused: cannot tell where the opened file is",
			 access_name(a));
		return -EACCES;
	}
	real[n] = '\0';
	if ((b = blocked_by(p, real))) {
		snprintf(why->msg, sizeof(why->msg),
			 "%s refused: the file is '%.200s', blocked by "
			 "'%.200s'",
			 access_name(a), real, b);
		return -EACCES;
	}
	if (!allowed(p, a, real, work_dir)) {
		snprintf(why->msg, sizeof(why->msg),
			 "%s refused: the file is '%.200s', which is not in "
			 "the policy's %s paths",
			 access_name(a), real, access_name(a));
		return -EACCES;
	}
	return 0;
}

int perm_path_explain(int err, bool root, const struct perm_path_plan *plan,
		      const char *path, struct perm_why *why)
{
	if (plan->open_all)
		return err;
	if (root && err == -ELOOP) {
		snprintf(why->msg, sizeof(why->msg),
			 "'%.200s' refused: the allowed directory '%.200s' "
			 "has a symlink in its path (policies name canonical "
			 "paths)",
			 path, plan->root);
		return -EACCES;
	}
	if (!root && err == -EXDEV) {
		snprintf(why->msg, sizeof(why->msg),
			 "'%.200s' refused: it resolves outside '%.200s' "
			 "(through '..' or a symlink)",
			 path, plan->root);
		return -EACCES;
	}
	if (!root && err == -ELOOP) {
		snprintf(why->msg, sizeof(why->msg),
			 "'%.200s' refused: it goes through %s", path,
			 (plan->resolve & RESOLVE_NO_SYMLINKS)
				 ? "a symlink (filesystem.no_symlinks)"
				 : "a magic link such as /proc/self/root, "
				   "or too many symlinks");
		return -EACCES;
	}
	return err;
}

int perm_path_open(const struct perm_policy *p, enum perm_access a,
		   const char *path, const char *work_dir, int flags,
		   mode_t mode, int *ret_fd, struct perm_why *why)
{
	_cleanup_close_ int rootfd = -EBADF, fd = -EBADF;
	struct perm_path_plan plan;
	char canon[PATH_MAX];
	struct open_how how;
	bool trunc;
	int r;

	r = perm_path_normalize(work_dir, path, canon, sizeof(canon));
	if (r < 0)
		return r;
	r = perm_path_plan(p, a, canon, work_dir, &plan, why);
	if (r < 0)
		return r;
	if (!plan.open_all) {
		perm_path_root_how(&how);
		rootfd = perm_openat2(AT_FDCWD, plan.root, &how);
		if (rootfd < 0)
			return perm_path_explain(rootfd, true, &plan, canon,
						 why);
	}
	how = (struct open_how){
		.flags = (uint64_t)perm_path_open_flags(&plan, flags, &trunc),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = plan.resolve,
	};
	fd = perm_openat2(plan.open_all ? AT_FDCWD : rootfd, plan.rest, &how);
	if (fd < 0)
		return perm_path_explain(fd, false, &plan, canon, why);
	r = perm_path_check_fd(p, a, &plan, fd, work_dir, why);
	if (r < 0)
		return r;
	if (trunc && ftruncate(fd, 0) < 0)
		return negative_errno();
	*ret_fd = take_fd(fd);
	return 0;
}
