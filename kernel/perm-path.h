/* SPDX-License-Identifier: MIT */
/*
 * Path rules of a policy, enforced by how a file is opened rather than by
 * inspecting a string: READ and WRITE first pick, from the lexically
 * canonical path, the allowed directory ("root") the path lies in — the
 * longest literal directory of a matching pattern, or the caller's work
 * directory — then open that root with O_PATH, refusing any symlink on its
 * way (policies name canonical paths), then open the rest of the path with
 * openat2 relative to the root fd with RESOLVE_BENEATH and
 * RESOLVE_NO_MAGICLINKS (plus RESOLVE_NO_SYMLINKS when the policy says
 * filesystem.no_symlinks). Whatever is renamed or swapped for a symlink in
 * between, the kernel cannot leave the root: `..`, absolute symlinks and
 * /proc/self/root fail with EXDEV or ELOOP. Last, the path the open fd
 * really has (/proc/self/fd) is matched against the policy again, and
 * blocked[] wins over everything.
 *
 * A policy that allows every path and blocks none (operators by default)
 * opens the path as given, with RESOLVE_NO_MAGICLINKS only.
 *
 * The async users (sys-file.c) run the two openat2 calls on the loop and
 * call perm_path_check_fd() and perm_path_explain() around them;
 * perm_path_open() does the same synchronously.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "perm-policy.h"

struct open_how;

enum perm_access { PERM_ACCESS_READ, PERM_ACCESS_WRITE };

struct perm_path_plan {
	/* The allowed directory, opened first; "/" with open_all. */
	char root[PATH_MAX];
	/* The path relative to root ("." for root itself); with open_all,
	 * the whole absolute path. */
	char rest[PATH_MAX];
	/* RESOLVE_* flags for opening rest. */
	uint64_t resolve;
	/* Every path is allowed and none blocked: open rest as it is, and
	 * skip the check of the opened fd. */
	bool open_all;
};

/*
 * Plans access a to the canonical absolute path (perm_path_normalize) for
 * policy p; work_dir is the caller's canonical work directory or NULL.
 * 0, or -EACCES with the reason in why (capability off, blocked, not in
 * the allowed paths), or -ENAMETOOLONG.
 */
int perm_path_plan(const struct perm_policy *p, enum perm_access a,
		   const char *path, const char *work_dir,
		   struct perm_path_plan *plan, struct perm_why *why);

/* How to open plan->root: O_PATH|O_DIRECTORY|O_CLOEXEC, no symlinks. */
void perm_path_root_how(struct open_how *how);

/* The open flags for plan (O_CLOEXEC added). O_TRUNC is held back unless
 * open_all (*ret_trunc then says to truncate after perm_path_check_fd), so
 * a refused file is never truncated. */
int perm_path_open_flags(const struct perm_path_plan *plan, int flags,
			 bool *ret_trunc);

/*
 * After the open: 0 if the file fd really is (its /proc/self/fd link) is
 * allowed for a and not blocked, else -EACCES with why. Skipped (0) for
 * open_all plans.
 */
int perm_path_check_fd(const struct perm_policy *p, enum perm_access a,
		       const struct perm_path_plan *plan, int fd,
		       const char *work_dir, struct perm_why *why);

/*
 * Turns an openat2 error into the reply's: err from opening the root
 * (root true) or the rest. Escapes (EXDEV) and refused links (ELOOP) become
 * -EACCES with why; other errors are returned as they are.
 */
int perm_path_explain(int err, bool root, const struct perm_path_plan *plan,
		      const char *path, struct perm_why *why);

/*
 * The whole sequence, synchronously: normalize path (relative to work_dir),
 * plan, open root, openat2 the rest, check the fd, truncate if asked.
 * *ret_fd is the open file (O_CLOEXEC). For tests and callers off the hot
 * path; READ and WRITE do the same on the loop.
 */
int perm_path_open(const struct perm_policy *p, enum perm_access a,
		   const char *path, const char *work_dir, int flags,
		   mode_t mode, int *ret_fd, struct perm_why *why);

/* openat2(2) (glibc has no wrapper): the fd or -errno. */
int perm_openat2(int dfd, const char *path, struct open_how *how);
