/* SPDX-License-Identifier: MIT */
/*
 * The cgroup v1 backend: one hierarchy per controller at
 * <root>/<controller>/ (memory.limit_in_bytes with memory.memsw so the limit
 * covers swap, cpu.cfs_quota_us/cpu.cfs_period_us and cpu.shares, pids.max).
 * On hybrid hosts these enforce the limits while the v2 tree holds the
 * agent's identity; on legacy hosts (no v2 tree at all) the v1 freezer also
 * pauses agents, and kills them: freeze, SIGKILL every listed process, thaw
 * — frozen, nothing can fork while the list is read. A child joins these
 * cgroups itself, writing "0" into each cgroup.procs before it execs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "macro.h"

#define V1_UNLIMITED "-1"

static int v1_setup_one(struct cgroup_manager *m, enum cgroup_controller c)
{
	const char *name = cgroup_controller_name(c);
	char mount[PATH_MAX], own[PATH_MAX], err[256];
	unsigned none = 0;
	int r;

	snprintf(mount, sizeof(mount), "%s/%s", m->root, name);
	if (access(mount, F_OK) < 0) {
		cgroup_set_missing(m, c, "no v1 %s hierarchy at %s", name,
				   mount);
		return -ENOENT;
	}
	r = cgroup_parse_self(m->self_cgroup, name, own, sizeof(own));
	if (r < 0) {
		cgroup_set_missing(m, c,
				   "/proc/self/cgroup names no %s cgroup: %s",
				   name, strerror(-r));
		return r;
	}
	r = cgroup_hier_open(m, &m->v1h[c], mount, own, NULL, &none, err,
			     sizeof(err));
	if (r < 0) {
		cgroup_set_missing(m, c, "%s", err);
		return r;
	}
	m->v1_controllers |= 1u << c;
	return 0;
}

static int v1_setup(struct cgroup_manager *m, char *err, size_t errlen)
{
	static const enum cgroup_controller wanted[] = {
		CGROUP_MEMORY, CGROUP_CPU, CGROUP_PIDS, CGROUP_FREEZER
	};
	int first = 0;

	for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
		enum cgroup_controller c = wanted[i];

		/* Freezing is cgroup.freeze's job when there is a v2 tree. */
		if (c == CGROUP_FREEZER && m->v2)
			continue;
		if (cgroup_has(m->v2_controllers, c))
			continue;
		int r = v1_setup_one(m, c);
		if (r < 0 && !first)
			first = r;
	}
	if (m->v1_controllers)
		return 0;
	snprintf(err, errlen, "no v1 controller is usable (memory: %s)",
		 m->missing[CGROUP_MEMORY]);
	return first ? first : -ENOENT;
}

static int v1_fail(struct cgroup *cg, enum cgroup_controller c,
		   const char *file, int r, char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot set %s/%s: %s", cg->v1_dir[c], file,
		 strerror(-r));
	return r;
}

static int v1_create(struct cgroup *cg, char *err, size_t errlen)
{
	struct cgroup_manager *m = cg->m;
	int existed = 0;

	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++) {
		if (!cgroup_has(m->v1_controllers, (enum cgroup_controller)c))
			continue;
		int r = cgroup_mkdir(m->v1h[c].fd, cg->name, &cg->v1_fd[c]);
		if (r < 0) {
			snprintf(err, errlen, "cannot create cgroup %s/%s: %s",
				 m->v1h[c].dir, cg->name, strerror(-r));
			return r;
		}
		existed |= r;
		if (asprintf(&cg->v1_dir[c], "%s/%s", m->v1h[c].dir, cg->name) <
		    0) {
			cg->v1_dir[c] = NULL;
			return -ENOMEM;
		}
		cg->procs_fd[c] = openat(cg->v1_fd[c], "cgroup.procs",
					 O_WRONLY | O_CLOEXEC);
		if (cg->procs_fd[c] < 0) {
			r = negative_errno();
			cg->procs_fd[c] = -EBADF;
			snprintf(err, errlen, "cannot open %s/cgroup.procs: %s",
				 cg->v1_dir[c], strerror(-r));
			return r;
		}
		cg->attach[cg->nattach++] = cg->procs_fd[c];
	}
	return existed;
}

static int v1_apply_memory(struct cgroup *cg, const struct cgroup_limits *lim,
			   char *err, size_t errlen)
{
	int fd = cg->v1_fd[CGROUP_MEMORY];
	bool memsw;
	int r;

	/* memory.limit may never exceed memsw.limit: lift memsw first, so a
	 * reused directory's old values never get in the way. */
	r = cgroup_write(fd, "memory.memsw.limit_in_bytes", V1_UNLIMITED);
	if (r < 0 && r != -ENOENT)
		return v1_fail(cg, CGROUP_MEMORY, "memory.memsw.limit_in_bytes",
			       r, err, errlen);
	memsw = r == 0;
	r = lim->memory >= 0
		    ? cgroup_write_int(fd, "memory.limit_in_bytes", lim->memory)
		    : cgroup_write(fd, "memory.limit_in_bytes", V1_UNLIMITED);
	if (r < 0)
		return v1_fail(cg, CGROUP_MEMORY, "memory.limit_in_bytes", r,
			       err, errlen);
	/* Memory + swap at the same figure: the agent cannot swap around
	 * its limit. */
	if (memsw && lim->memory >= 0) {
		r = cgroup_write_int(fd, "memory.memsw.limit_in_bytes",
				     lim->memory);
		if (r < 0)
			return v1_fail(cg, CGROUP_MEMORY,
				       "memory.memsw.limit_in_bytes", r, err,
				       errlen);
	}
	return cgroup_read_int(fd, "memory.limit_in_bytes",
			       &cg->enforced.memory);
}

static int v1_apply_cpu(struct cgroup *cg, const struct cgroup_limits *lim,
			char *err, size_t errlen)
{
	int fd = cg->v1_fd[CGROUP_CPU];
	int64_t period = lim->cpu_period >= 0 ? lim->cpu_period
					      : CGROUP_CPU_PERIOD_DEFAULT;
	int64_t quota, shares;
	int r;

	/* A quota is checked against the period: lift it, set the period,
	 * then set it. */
	r = cgroup_write(fd, "cpu.cfs_quota_us", V1_UNLIMITED);
	if (r == 0)
		r = cgroup_write_int(fd, "cpu.cfs_period_us", period);
	if (r == 0 && lim->cpu_quota >= 0)
		r = cgroup_write_int(fd, "cpu.cfs_quota_us", lim->cpu_quota);
	if (r < 0)
		return v1_fail(cg, CGROUP_CPU, "cpu.cfs_quota_us", r, err,
			       errlen);
	r = cgroup_write_int(fd, "cpu.shares",
			     lim->cpu_shares >= 0 ? lim->cpu_shares : 1024);
	if (r < 0)
		return v1_fail(cg, CGROUP_CPU, "cpu.shares", r, err, errlen);

	if ((r = cgroup_read_int(fd, "cpu.cfs_quota_us", &quota)) < 0 ||
	    (r = cgroup_read_int(fd, "cpu.cfs_period_us", &period)) < 0 ||
	    (r = cgroup_read_int(fd, "cpu.shares", &shares)) < 0)
		return r;
	if (quota >= 0) {
		cg->enforced.cpu_quota = quota;
		cg->enforced.cpu_period = period;
	}
	if (lim->cpu_shares >= 0)
		cg->enforced.cpu_shares = shares;
	return 0;
}

static int v1_apply(struct cgroup *cg, const struct cgroup_limits *lim,
		    char *err, size_t errlen)
{
	unsigned mask = cg->m->v1_controllers;
	int r;

	if (cgroup_has(mask, CGROUP_MEMORY) &&
	    (r = v1_apply_memory(cg, lim, err, errlen)) < 0)
		return r;
	if (cgroup_has(mask, CGROUP_CPU) &&
	    (r = v1_apply_cpu(cg, lim, err, errlen)) < 0)
		return r;
	if (cgroup_has(mask, CGROUP_PIDS)) {
		int fd = cg->v1_fd[CGROUP_PIDS];

		r = lim->pids >= 0 ? cgroup_write_int(fd, "pids.max", lim->pids)
				   : cgroup_write(fd, "pids.max", "max");
		if (r < 0)
			return v1_fail(cg, CGROUP_PIDS, "pids.max", r, err,
				       errlen);
		r = cgroup_read_int(fd, "pids.max", &cg->enforced.pids);
		if (r < 0)
			return r;
	}
	return 0;
}

static int v1_counters(struct cgroup *cg, struct cgroup_counters *ret)
{
	unsigned mask = cg->m->v1_controllers;
	int64_t ns;
	uint64_t v;

	if (cgroup_has(mask, CGROUP_MEMORY) && cg->v1_fd[CGROUP_MEMORY] >= 0 &&
	    cgroup_read_key(cg->v1_fd[CGROUP_MEMORY], "memory.oom_control",
			    "oom_kill", &v) == 0)
		ret->oom_kills = v;
	/* The limit is on memsw when the host accounts swap
	 * (v1_apply_memory()), so usage is read from the same counter. */
	if (cgroup_has(mask, CGROUP_MEMORY) && cg->v1_fd[CGROUP_MEMORY] >= 0 &&
	    (cgroup_read_int(cg->v1_fd[CGROUP_MEMORY],
			     "memory.memsw.usage_in_bytes", &ns) == 0 ||
	     cgroup_read_int(cg->v1_fd[CGROUP_MEMORY], "memory.usage_in_bytes",
			     &ns) == 0) &&
	    ns > 0)
		ret->memory_bytes = (uint64_t)ns;
	if (cgroup_has(mask, CGROUP_PIDS) && cg->v1_fd[CGROUP_PIDS] >= 0 &&
	    cgroup_read_key(cg->v1_fd[CGROUP_PIDS], "pids.events", "max", &v) ==
		    0)
		ret->pids_max = v;
	/* Legacy hosts: cpuacct, when mounted with cpu. */
	if (!ret->cpu_usage_us && cg->v1_fd[CGROUP_CPU] >= 0 &&
	    cgroup_read_int(cg->v1_fd[CGROUP_CPU], "cpuacct.usage", &ns) == 0 &&
	    ns > 0)
		ret->cpu_usage_us = (uint64_t)ns / 1000;
	return 0;
}

/* The directory whose cgroup.procs lists the agent's processes. */
static int v1_any_fd(const struct cgroup *cg)
{
	if (cg->v1_fd[CGROUP_FREEZER] >= 0)
		return cg->v1_fd[CGROUP_FREEZER];
	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++)
		if (cg->v1_fd[c] >= 0)
			return cg->v1_fd[c];
	return -EBADF;
}

static void v1_kill_listed(int fd)
{
	char buf[16384];

	for (int round = 0; round < 4; round++) {
		if (cgroup_read(fd, "cgroup.procs", buf, sizeof(buf)) < 0 ||
		    !buf[0])
			return;
		for (char *p = buf; *p;) {
			char *end;
			long pid = strtol(p, &end, 10);

			if (end == p)
				break;
			if (pid > 0)
				(void)kill((pid_t)pid, SIGKILL);
			p = end + (*end == '\n');
		}
	}
}

static int v1_kill(struct cgroup *cg)
{
	int freezer = cg->v1_fd[CGROUP_FREEZER];
	int fd = v1_any_fd(cg);

	if (fd < 0)
		return 0;
	if (freezer >= 0)
		(void)cgroup_write(freezer, "freezer.state", "FROZEN");
	v1_kill_listed(fd);
	/* Frozen tasks only act on SIGKILL once thawed. */
	if (freezer >= 0)
		(void)cgroup_write(freezer, "freezer.state", "THAWED");
	return 0;
}

static int v1_freeze(struct cgroup *cg, bool frozen)
{
	int fd = cg->v1_fd[CGROUP_FREEZER];

	if (fd < 0)
		return -EOPNOTSUPP;
	return cgroup_write(fd, "freezer.state", frozen ? "FROZEN" : "THAWED");
}

static int v1_frozen(struct cgroup *cg)
{
	char buf[32];
	int fd = cg->v1_fd[CGROUP_FREEZER];
	int r;

	if (fd < 0)
		return -EOPNOTSUPP;
	r = cgroup_read(fd, "freezer.state", buf, sizeof(buf));
	return r < 0 ? r : strcmp(buf, "FROZEN") == 0;
}

static int v1_open(struct cgroup *cg)
{
	struct cgroup_manager *m = cg->m;

	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++) {
		if (m->v1h[c].fd < 0)
			continue;
		cg->v1_fd[c] = openat(m->v1h[c].fd, cg->name,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cg->v1_fd[c] < 0) {
			cg->v1_fd[c] = -EBADF;
			if (errno != ENOENT)
				return negative_errno();
		}
	}
	return 0;
}

static int v1_remove(struct cgroup *cg)
{
	struct cgroup_manager *m = cg->m;
	int first = 0;

	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++) {
		if (m->v1h[c].fd < 0)
			continue;
		int r = cgroup_rmdir_tree(m->v1h[c].fd, cg->name);
		if (r < 0) {
			if (!first)
				first = r;
			continue;
		}
		if (cg->procs_fd[c] >= 0)
			close(cg->procs_fd[c]);
		if (cg->v1_fd[c] >= 0)
			close(cg->v1_fd[c]);
		cg->procs_fd[c] = cg->v1_fd[c] = -EBADF;
	}
	return first;
}

const struct cgroup_ops cgroup_v1_ops = {
	.name = "v1",
	.setup = v1_setup,
	.create = v1_create,
	.apply = v1_apply,
	.counters = v1_counters,
	.kill = v1_kill,
	.freeze = v1_freeze,
	.frozen = v1_frozen,
	.open = v1_open,
	.remove = v1_remove,
};
