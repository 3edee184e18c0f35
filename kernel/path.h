/* SPDX-License-Identifier: MIT */
/*
 * Where a caller's paths point. Agents have a work directory,
 * <state_dir>/agents/<id>, which is their default EXEC cwd and the base of
 * their relative READ/WRITE paths; operators have none and must give
 * absolute paths.
 */
#pragma once

#include <stddef.h>

struct kernel;
struct caller;

/*
 * Writes c's work directory into buf (size len). Returns 1 for an agent,
 * 0 for an operator (buf is then ""), or -ENAMETOOLONG.
 */
int path_work_dir(const struct kernel *k, const struct caller *c, char *buf,
		  size_t len);

/*
 * Makes path absolute for c: an absolute path is copied, a relative one is
 * joined to an agent's work directory. Returns 0, -EINVAL for an empty
 * path or an operator's relative path, or -ENAMETOOLONG (buf then holds
 * nothing meaningful).
 */
int path_resolve(const struct kernel *k, const struct caller *c,
		 const char *path, char *buf, size_t len);
