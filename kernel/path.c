/* SPDX-License-Identifier: MIT */
/*
 * Callers' work directories and the joining of relative paths to them.
 * Only strings here: the files are opened with openat2, whose resolve
 * flags (not string checks) decide what a path may reach.
 */
#include "path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "caller.h"
#include "kernel.h"

int path_work_dir(const struct kernel *k, const struct caller *c, char *buf,
		  size_t len)
{
	int n;

	if (c->role != ROLE_AGENT) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	n = snprintf(buf, len, "%s/agents/%u", k->cfg.state_dir, c->id);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 1;
}

int path_resolve(const struct kernel *k, const struct caller *c,
		 const char *path, char *buf, size_t len)
{
	int n, r;

	if (path[0] == '\0')
		return -EINVAL;
	if (path[0] == '/') {
		n = snprintf(buf, len, "%s", path);
		return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
	}
	r = path_work_dir(k, c, buf, len);
	if (r <= 0)
		return r < 0 ? r : -EINVAL;
	size_t used = strlen(buf);
	n = snprintf(buf + used, len - used, "/%s", path);
	return n < 0 || (size_t)n >= len - used ? -ENAMETOOLONG : 0;
}
