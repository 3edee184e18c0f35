/* SPDX-License-Identifier: MIT */
/*
 * Path patterns of permission policies, and the lexical path arithmetic
 * they need. A pattern is an absolute path whose components may use
 * fnmatch(3) wildcards (`*`, `?`, `[...]`), each matching inside one
 * component (FNM_PATHNAME); a last component of exactly "**" makes the
 * pattern match the directory before it and everything below it. No `.`/`..`
 * components, no empty ones, no backslashes, so a pattern's text says exactly
 * which canonical paths it matches, and "covers" can be decided on the text.
 *
 * Pure string work, except perm_glob_canonicalize(), which resolves the
 * literal leading part of a pattern with realpath(3) once, when a policy is
 * built (so "/bin/sh" and "/usr/bin/dash" name the same program on a
 * merged-/usr system). Nothing here opens files: perm-path.c does that.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Longest pattern (bytes, with the NUL). */
#define PERM_PATTERN_MAX 1024

/*
 * 0 if pattern is well formed, else -EINVAL with the reason in msg (size
 * msglen), which starts with field ("permissions.exec[2]: ...").
 */
int perm_glob_validate(const char *pattern, const char *field, char *msg,
		       size_t msglen);

/* True if the canonical absolute path matches pattern. */
bool perm_glob_match(const char *pattern, const char *path);

/*
 * The literal directory a pattern lives in: its leading components without
 * wildcards, minus the last component of the pattern ("/a/b" with a last
 * "**" component -> "/a/b", "/a/b" -> "/a", "/a/[xy]/c" -> "/a", "**"
 * alone -> "/"). Every path the
 * pattern matches is this directory or beneath it. -ENAMETOOLONG if buf
 * is too small.
 */
int perm_glob_root(const char *pattern, char *buf, size_t len);

/* True if every path child matches is also matched by parent: child is
 * parent itself, or parent is Q plus a "**" component and child is Q or
 * lies under Q. */
bool perm_glob_covers(const char *parent, const char *child);

/*
 * Resolves the literal leading part of a valid pattern through realpath(3)
 * (its longest existing prefix): the directory part only, or with
 * whole_literal also a final literal component (for programs: "/bin/sh"
 * -> "/usr/bin/dash"). The result is written to buf; 0, or -ENAMETOOLONG.
 */
int perm_glob_canonicalize(const char *pattern, bool whole_literal, char *buf,
			   size_t len);

/*
 * Makes path absolute and lexically canonical: joined to base when
 * relative (base NULL: -EINVAL), empty and "." components dropped, ".."
 * removing the previous one (never above "/"). Symlinks are not looked at:
 * openat2 takes care of them when the path is opened. 0, -EINVAL (empty
 * path, relative without base), or -ENAMETOOLONG.
 */
int perm_path_normalize(const char *base, const char *path, char *buf,
			size_t len);
