/* SPDX-License-Identifier: MIT */
/*
 * The cgroup v2 backend. On hybrid hosts it provides each agent's identity
 * and nothing else: a directory in the unified tree to clone into, to kill
 * (cgroup.kill) and to freeze (cgroup.freeze), with CPU usage in cpu.stat.
 * On pure v2 hosts it also enforces memory (memory.max, memory.swap.max 0,
 * memory.oom.group 1), cpu (cpu.max, cpu.weight) and pids (pids.max), after
 * enabling them in cgroup.subtree_control from cloved's own cgroup down to
 * the instance's (the original Clove never enabled them, so its limits were
 * never in force). v2's no-internal-processes rule forbids enabling them in
 * a cgroup that holds processes; when cloved's own cgroup does, cloved moves
 * itself into a leaf ("cloved") beside the agents' parent first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "macro.h"

static const enum cgroup_controller v2_wanted[] = { CGROUP_MEMORY, CGROUP_CPU,
						    CGROUP_PIDS };

static bool words_has(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; (p = strstr(p, word)); p += n)
		if ((p == text || p[-1] == ' ' || p[-1] == '\n') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

static const char *v2_mount(const struct cgroup_manager *m, char *buf,
			    size_t len)
{
	if (m->layout == CGROUP_LAYOUT_V2)
		return m->root;
	snprintf(buf, len, "%s/unified", m->root);
	return buf;
}

/* Moves this process into a leaf below dfd, so that dfd holds no process
 * and may hand controllers down. */
static int v2_move_self(int dfd)
{
	_cleanup_close_ int leaf = -EBADF;
	int r = cgroup_mkdir(dfd, CGROUP_KERNEL_LEAF, &leaf);

	if (r < 0)
		return r;
	return cgroup_write(leaf, "cgroup.procs", "0");
}

/* All of mask in one write ("+memory +cpu +pids"). */
static int v2_enable_all(int dfd, unsigned mask)
{
	char buf[64] = "";

	for (size_t i = 0; i < ELEMENTSOF(v2_wanted); i++)
		if (cgroup_has(mask, v2_wanted[i]))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
				 "%s+%s", buf[0] ? " " : "",
				 cgroup_controller_name(v2_wanted[i]));
	return buf[0] ? cgroup_write(dfd, "cgroup.subtree_control", buf) : 0;
}

static int v2_enable(struct cgroup_manager *m, int dfd, const char *dir,
		     unsigned *mask)
{
	bool moved = false;

	if (v2_enable_all(dfd, *mask) == 0)
		return 0;
	/* One at a time, to learn which one fails and why. */
	for (size_t i = 0; i < ELEMENTSOF(v2_wanted); i++) {
		enum cgroup_controller c = v2_wanted[i];
		char tok[32];
		int r;

		if (!cgroup_has(*mask, c))
			continue;
		snprintf(tok, sizeof(tok), "+%s", cgroup_controller_name(c));
		r = cgroup_write(dfd, "cgroup.subtree_control", tok);
		if (r == -EBUSY && !moved) {
			moved = true;
			if (v2_move_self(dfd) == 0)
				r = cgroup_write(dfd, "cgroup.subtree_control",
						 tok);
		}
		if (r < 0) {
			*mask &= ~(1u << c);
			cgroup_set_missing(
				m, c,
				"cannot enable it in cgroup.subtree_control "
				"below %s: %s%s",
				dir, strerror(-r),
				r == -EBUSY ? " (that cgroup holds other "
					      "processes: run cloved in a "
					      "cgroup of its own, e.g. a "
					      "systemd service with "
					      "Delegate=yes)"
					    : "");
		}
	}
	return 0;
}

static int v2_setup(struct cgroup_manager *m, char *err, size_t errlen)
{
	char mbuf[PATH_MAX], own[PATH_MAX], path[PATH_MAX * 2 + 32], avail[512];
	const char *mount = v2_mount(m, mbuf, sizeof(mbuf));
	unsigned mask = 0;
	int r;

	r = cgroup_parse_self(m->self_cgroup, NULL, own, sizeof(own));
	if (r < 0) {
		snprintf(err, errlen,
			 "no cgroup v2 entry (0::) in /proc/self/cgroup: %s",
			 strerror(-r));
		return r;
	}
	if (m->layout == CGROUP_LAYOUT_V2) {
		snprintf(path, sizeof(path), "%s%s/cgroup.controllers", mount,
			 strcmp(own, "/") == 0 ? "" : own);
		if (cgroup_read(AT_FDCWD, path, avail, sizeof(avail)) < 0)
			avail[0] = '\0';
		for (size_t i = 0; i < ELEMENTSOF(v2_wanted); i++) {
			enum cgroup_controller c = v2_wanted[i];

			if (words_has(avail, cgroup_controller_name(c)))
				mask |= 1u << c;
			else
				cgroup_set_missing(
					m, c,
					"the %s controller is not delegated "
					"to cloved's cgroup (%s lacks it)",
					cgroup_controller_name(c), path);
		}
	}
	r = cgroup_hier_open(m, &m->unified, mount, own,
			     m->layout == CGROUP_LAYOUT_V2 ? v2_enable : NULL,
			     &mask, err, errlen);
	if (r < 0)
		return r;
	m->v2_controllers = mask;
	return 0;
}

static char *v2_join(const char *a, const char *b)
{
	char *s;

	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

static int v2_create(struct cgroup *cg, char *err, size_t errlen)
{
	struct cgroup_manager *m = cg->m;
	int r = cgroup_mkdir(m->unified.fd, cg->name, &cg->fd);

	if (r < 0) {
		snprintf(err, errlen, "cannot create cgroup %s/%s: %s",
			 m->unified.dir, cg->name, strerror(-r));
		return r;
	}
	cg->unified_dir = v2_join(m->unified.dir, cg->name);
	cg->path = v2_join(m->unified.path, cg->name);
	if (!cg->unified_dir || !cg->path)
		return -ENOMEM;
	cg->procs_v2_fd = openat(cg->fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (cg->procs_v2_fd < 0) {
		int q = negative_errno();

		cg->procs_v2_fd = -EBADF;
		snprintf(err, errlen, "cannot open %s/cgroup.procs: %s",
			 cg->unified_dir, strerror(-q));
		return q;
	}
	return r;
}

static int v2_fail(struct cgroup *cg, const char *file, int r, char *err,
		   size_t errlen)
{
	snprintf(err, errlen, "cannot set %s/%s: %s", cg->unified_dir, file,
		 strerror(-r));
	return r;
}

static int v2_apply_memory(struct cgroup *cg, const struct cgroup_limits *lim,
			   char *err, size_t errlen)
{
	bool limited = lim->memory >= 0;
	int r;

	r = limited ? cgroup_write_int(cg->fd, "memory.max", lim->memory)
		    : cgroup_write(cg->fd, "memory.max", "max");
	if (r < 0)
		return v2_fail(cg, "memory.max", r, err, errlen);
	/* The limit covers swap too; without swap accounting the file does
	 * not exist and there is nothing to add. */
	r = cgroup_write(cg->fd, "memory.swap.max", limited ? "0" : "max");
	if (r < 0 && r != -ENOENT)
		return v2_fail(cg, "memory.swap.max", r, err, errlen);
	/* One OOM kill takes the whole agent, not a random part of it. */
	r = cgroup_write(cg->fd, "memory.oom.group", "1");
	if (r < 0 && r != -ENOENT)
		return v2_fail(cg, "memory.oom.group", r, err, errlen);
	return cgroup_read_int(cg->fd, "memory.max", &cg->enforced.memory);
}

static int v2_apply_cpu(struct cgroup *cg, const struct cgroup_limits *lim,
			char *err, size_t errlen)
{
	int64_t period = lim->cpu_period >= 0 ? lim->cpu_period
					      : CGROUP_CPU_PERIOD_DEFAULT;
	int64_t weight = lim->cpu_shares >= 0
				 ? cgroup_shares_to_weight(lim->cpu_shares)
				 : 100;
	char buf[64], quota[32];
	long long p;
	int r;

	if (lim->cpu_quota >= 0)
		snprintf(buf, sizeof(buf), "%" PRId64 " %" PRId64,
			 lim->cpu_quota, period);
	else
		snprintf(buf, sizeof(buf), "max %" PRId64, period);
	r = cgroup_write(cg->fd, "cpu.max", buf);
	if (r < 0)
		return v2_fail(cg, "cpu.max", r, err, errlen);
	r = cgroup_write_int(cg->fd, "cpu.weight", weight);
	if (r < 0)
		return v2_fail(cg, "cpu.weight", r, err, errlen);

	r = cgroup_read(cg->fd, "cpu.max", buf, sizeof(buf));
	if (r < 0)
		return r;
	if (sscanf(buf, "%31s %lld", quota, &p) != 2)
		return -EINVAL;
	if (strcmp(quota, "max") != 0) {
		cg->enforced.cpu_quota = strtoll(quota, NULL, 10);
		cg->enforced.cpu_period = p;
	}
	r = cgroup_read_int(cg->fd, "cpu.weight", &cg->enforced.cpu_weight);
	if (r < 0)
		return r;
	if (lim->cpu_shares >= 0 && cg->enforced.cpu_weight == weight)
		cg->enforced.cpu_shares = lim->cpu_shares;
	return 0;
}

static int v2_apply(struct cgroup *cg, const struct cgroup_limits *lim,
		    char *err, size_t errlen)
{
	unsigned mask = cg->m->v2_controllers;
	int r;

	if (cgroup_has(mask, CGROUP_MEMORY) &&
	    (r = v2_apply_memory(cg, lim, err, errlen)) < 0)
		return r;
	if (cgroup_has(mask, CGROUP_CPU) &&
	    (r = v2_apply_cpu(cg, lim, err, errlen)) < 0)
		return r;
	if (cgroup_has(mask, CGROUP_PIDS)) {
		r = lim->pids >= 0
			    ? cgroup_write_int(cg->fd, "pids.max", lim->pids)
			    : cgroup_write(cg->fd, "pids.max", "max");
		if (r < 0)
			return v2_fail(cg, "pids.max", r, err, errlen);
		r = cgroup_read_int(cg->fd, "pids.max", &cg->enforced.pids);
		if (r < 0)
			return r;
	}
	return 0;
}

static int v2_counters(struct cgroup *cg, struct cgroup_counters *ret)
{
	unsigned mask = cg->m->v2_controllers;
	int64_t cur;
	uint64_t v;

	if (cg->fd < 0)
		return -EBADF;
	if (cgroup_has(mask, CGROUP_MEMORY) &&
	    cgroup_read_key(cg->fd, "memory.events", "oom_kill", &v) == 0)
		ret->oom_kills = v;
	/* Swap is off for limited cgroups (v2_apply_memory()), so
	 * memory.current is all that counts against memory.max. */
	if (cgroup_has(mask, CGROUP_MEMORY) &&
	    cgroup_read_int(cg->fd, "memory.current", &cur) == 0 && cur > 0)
		ret->memory_bytes = (uint64_t)cur;
	if (cgroup_has(mask, CGROUP_PIDS) &&
	    cgroup_read_key(cg->fd, "pids.events", "max", &v) == 0)
		ret->pids_max = v;
	/* cpu.stat's usage is kept in every v2 cgroup, controller or not. */
	if (cgroup_read_key(cg->fd, "cpu.stat", "usage_usec", &v) == 0)
		ret->cpu_usage_us = v;
	return 0;
}

/* Before cgroup.kill (Linux 5.14): SIGKILL each listed process, a few
 * rounds, for those forked while the list was read. */
static int v2_kill_by_list(struct cgroup *cg)
{
	char buf[16384];

	for (int round = 0; round < 4; round++) {
		int r = cgroup_read(cg->fd, "cgroup.procs", buf, sizeof(buf));

		if (r < 0)
			return r;
		if (!buf[0])
			return 0;
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
	return 0;
}

static int v2_kill(struct cgroup *cg)
{
	int r;

	if (cg->fd < 0)
		return 0;
	r = cgroup_write(cg->fd, "cgroup.kill", "1");
	if (r == -ENOENT)
		return v2_kill_by_list(cg);
	/* ENODEV: the directory is gone already, so is everything in it. */
	return r == -ENODEV ? 0 : r;
}

static int v2_freeze(struct cgroup *cg, bool frozen)
{
	if (cg->fd < 0)
		return -EBADF;
	return cgroup_write(cg->fd, "cgroup.freeze", frozen ? "1" : "0");
}

static int v2_frozen(struct cgroup *cg)
{
	uint64_t v;
	int r;

	if (cg->fd < 0)
		return -EBADF;
	r = cgroup_read_key(cg->fd, "cgroup.events", "frozen", &v);
	return r < 0 ? r : v != 0;
}

static int v2_open(struct cgroup *cg)
{
	struct cgroup_manager *m = cg->m;

	cg->fd = openat(m->unified.fd, cg->name,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->fd < 0) {
		cg->fd = -EBADF;
		return errno == ENOENT ? 0 : negative_errno();
	}
	return 0;
}

static int v2_remove(struct cgroup *cg)
{
	int r = cgroup_rmdir_tree(cg->m->unified.fd, cg->name);

	if (r == 0 && cg->fd >= 0) {
		close(cg->fd);
		cg->fd = -EBADF;
	}
	return r;
}

const struct cgroup_ops cgroup_v2_ops = {
	.name = "v2",
	.setup = v2_setup,
	.create = v2_create,
	.apply = v2_apply,
	.counters = v2_counters,
	.kill = v2_kill,
	.freeze = v2_freeze,
	.frozen = v2_frozen,
	.open = v2_open,
	.remove = v2_remove,
};
