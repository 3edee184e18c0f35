/* SPDX-License-Identifier: MIT */
/*
 * What both cgroup backends need from the filesystem and nothing else: the
 * layout detection (statfs magic numbers), /proc/self/cgroup and "key value"
 * parsing, reading and writing the short control files relative to a
 * directory fd, creating the instance's parent directories, and removing a
 * cgroup with the cgroups below it. Also the pure checks of requested
 * limits against the machine. All fds are O_CLOEXEC; nothing logs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "macro.h"

/* v1 reports "unlimited" as the largest page-aligned int64 (memory) and
 * pids/v2 as "max"; anything this large is unlimited. */
#define CGROUP_UNLIMITED_FLOOR 0x7FFFFFFFFFFFF000LL
/* Cgroups nested this deep below an agent's are not removed. */
#define CGROUP_RMDIR_DEPTH 16

static const char *const layout_names[] = {
	[CGROUP_LAYOUT_NONE] = "none",
	[CGROUP_LAYOUT_V1] = "v1",
	[CGROUP_LAYOUT_HYBRID] = "hybrid",
	[CGROUP_LAYOUT_V2] = "v2",
};

static const char *const controller_names[] = {
	[CGROUP_MEMORY] = "memory",
	[CGROUP_CPU] = "cpu",
	[CGROUP_PIDS] = "pids",
	[CGROUP_FREEZER] = "freezer",
};

const char *cgroup_layout_name(enum cgroup_layout l)
{
	return (unsigned)l < ELEMENTSOF(layout_names) ? layout_names[l]
						      : "unknown";
}

const char *cgroup_controller_name(enum cgroup_controller c)
{
	return (unsigned)c < ELEMENTSOF(controller_names) ? controller_names[c]
							  : "unknown";
}

static bool fs_is(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

int cgroup_detect(const char *root, enum cgroup_layout *ret)
{
	static const char *const v1[] = { "memory", "cpu", "pids", "freezer" };
	char p[PATH_MAX];

	if (fs_is(root, CGROUP2_SUPER_MAGIC)) {
		*ret = CGROUP_LAYOUT_V2;
		return 0;
	}
	snprintf(p, sizeof(p), "%s/unified", root);
	if (fs_is(p, CGROUP2_SUPER_MAGIC)) {
		*ret = CGROUP_LAYOUT_HYBRID;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(v1); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, v1[i]);
		if (fs_is(p, CGROUP_SUPER_MAGIC)) {
			*ret = CGROUP_LAYOUT_V1;
			return 0;
		}
	}
	*ret = CGROUP_LAYOUT_NONE;
	return 0;
}

static bool list_has(const char *list, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list, *end = list + len; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t l = comma ? (size_t)(comma - p) : (size_t)(end - p);

		if (l == n && memcmp(p, name, n) == 0)
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

int cgroup_parse_self(const char *text, const char *controller, char *buf,
		      size_t len)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchrnul(line, '\n');
		const char *c1 = memchr(line, ':', (size_t)(nl - line));
		const char *c2 =
			c1 ? memchr(c1 + 1, ':', (size_t)(nl - c1 - 1)) : NULL;

		if (c2) {
			size_t llen = (size_t)(c2 - c1 - 1);
			bool match =
				controller ? list_has(c1 + 1, llen, controller)
					   : (llen == 0 && c1 - line == 1 &&
					      *line == '0');
			size_t plen = (size_t)(nl - c2 - 1);

			if (match) {
				if (plen == 0 || c2[1] != '/')
					return -EINVAL;
				if (plen >= len)
					return -ENAMETOOLONG;
				memcpy(buf, c2 + 1, plen);
				buf[plen] = '\0';
				return 0;
			}
		}
		line = *nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

int cgroup_parse_key(const char *text, const char *key, uint64_t *ret)
{
	size_t n = strlen(key);

	for (const char *line = text; line && *line;) {
		if (strncmp(line, key, n) == 0 && line[n] == ' ') {
			char *end;

			errno = 0;
			unsigned long long v = strtoull(line + n + 1, &end, 10);
			if (errno || end == line + n + 1)
				return -EINVAL;
			*ret = (uint64_t)v;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -ENOENT;
}

int cgroup_write(int dfd, const char *file, const char *value)
{
	_cleanup_close_ int fd =
		openat(dfd, file, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = strlen(value);
	ssize_t n;

	if (fd < 0)
		return negative_errno();
	/* Control files take one value per write(): never split it. */
	n = write(fd, value, len);
	if (n < 0)
		return negative_errno();
	return (size_t)n == len ? 0 : -EIO;
}

int cgroup_write_int(int dfd, const char *file, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cgroup_write(dfd, file, buf);
}

int cgroup_read(int dfd, const char *file, char *buf, size_t len)
{
	_cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return negative_errno();
	while (got + 1 < len) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	while (got > 0 && buf[got - 1] == '\n')
		buf[--got] = '\0';
	return 0;
}

int cgroup_read_int(int dfd, const char *file, int64_t *ret)
{
	char buf[64], *end;
	long long v;
	int r = cgroup_read(dfd, file, buf, sizeof(buf));

	if (r < 0)
		return r;
	if (strcmp(buf, "max") == 0) {
		*ret = -1;
		return 0;
	}
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || end == buf || (*end && *end != ' '))
		return -EINVAL;
	*ret = v >= CGROUP_UNLIMITED_FLOOR || v < 0 ? -1 : v;
	return 0;
}

int cgroup_read_key(int dfd, const char *file, const char *key, uint64_t *ret)
{
	char buf[4096];
	int r = cgroup_read(dfd, file, buf, sizeof(buf));

	return r < 0 ? r : cgroup_parse_key(buf, key, ret);
}

int cgroup_mkdir(int dfd, const char *name, int *ret_fd)
{
	bool existed = false;
	int fd;

	if (mkdirat(dfd, name, 0755) < 0) {
		if (errno != EEXIST)
			return negative_errno();
		existed = true;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	*ret_fd = fd;
	return existed ? 1 : 0;
}

static int rmdir_depth(int dfd, const char *name, unsigned depth)
{
	_cleanup_close_ int fd = -EBADF;
	DIR *d;
	struct dirent *e;

	if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	/* cgroupfs says EBUSY for both "has processes" and "has children";
	 * only children can be dealt with here. */
	if ((errno != EBUSY && errno != ENOTEMPTY) || depth == 0)
		return negative_errno();
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	d = fdopendir(fd);
	if (!d)
		return negative_errno();
	fd = -EBADF; /* d owns it */
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0)
			(void)rmdir_depth(dirfd(d), e->d_name, depth - 1);
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	return negative_errno();
}

int cgroup_rmdir_tree(int dfd, const char *name)
{
	return rmdir_depth(dfd, name, CGROUP_RMDIR_DEPTH);
}

void cgroup_set_missing(struct cgroup_manager *m, enum cgroup_controller c,
			const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->missing[c], sizeof(m->missing[c]), fmt, ap);
	va_end(ap);
}

static char *join(const char *a, const char *b, const char *c)
{
	char *s;

	return asprintf(&s, "%s%s%s", a, b, c) < 0 ? NULL : s;
}

int cgroup_hier_open(struct cgroup_manager *m, struct cgroup_hier *h,
		     const char *mount, const char *own,
		     int (*enable)(struct cgroup_manager *m, int dfd,
				   const char *dir, unsigned *mask),
		     unsigned *mask, char *err, size_t errlen)
{
	_cleanup_close_ int own_fd = -EBADF, parent_fd = -EBADF;
	_cleanup_free_ char *own_dir = NULL;
	const char *sep = strcmp(own, "/") == 0 ? "" : own;
	int r;

	own_dir = join(mount, sep, "");
	if (!own_dir)
		return -ENOMEM;
	own_fd = open(own_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (own_fd < 0) {
		r = negative_errno();
		snprintf(err, errlen, "cannot open %s: %s", own_dir,
			 strerror(-r));
		return r;
	}
	if (enable && (r = enable(m, own_fd, own_dir, mask)) < 0)
		return r;
	r = cgroup_mkdir(own_fd, CGROUP_PARENT, &parent_fd);
	if (r >= 0 && enable)
		r = enable(m, parent_fd, own_dir, mask);
	if (r >= 0)
		r = cgroup_mkdir(parent_fd, m->instance, &h->fd);
	if (r >= 0 && enable)
		r = enable(m, h->fd, own_dir, mask);
	if (r < 0) {
		snprintf(err, errlen, "cannot create %s/%s/%s: %s", own_dir,
			 CGROUP_PARENT, m->instance, strerror(-r));
		return r;
	}
	h->dir = join(own_dir, "/" CGROUP_PARENT "/", m->instance);
	h->path = join(sep, "/" CGROUP_PARENT "/", m->instance);
	return h->dir && h->path ? 0 : -ENOMEM;
}

void cgroup_hier_close(struct cgroup_hier *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -EBADF;
	free(h->dir);
	free(h->path);
	h->dir = h->path = NULL;
}

int cgroup_machine_read(struct cgroup_machine *ret)
{
	struct sysinfo si;
	cpu_set_t set;
	char buf[32];
	int64_t pid_max = 0;

	if (sysinfo(&si) < 0)
		return negative_errno();
	ret->memory = (uint64_t)si.totalram * si.mem_unit;
	ret->cpus = sched_getaffinity(0, sizeof(set), &set) == 0
			    ? (unsigned)CPU_COUNT(&set)
			    : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (ret->cpus == 0)
		ret->cpus = 1;
	if (cgroup_read(AT_FDCWD, "/proc/sys/kernel/pid_max", buf,
			sizeof(buf)) == 0)
		pid_max = strtoll(buf, NULL, 10);
	ret->pid_max = pid_max > 0 ? (uint64_t)pid_max : 4194304;
	return 0;
}

static int out_of_range(char *err, size_t errlen, const char *name, int64_t v,
			int64_t min, int64_t max, const char *why)
{
	snprintf(err, errlen,
		 "limit '%s' = %" PRId64 " is out of range: %" PRId64
		 "..%" PRId64 " (%s)",
		 name, v, min, max, why);
	return -EINVAL;
}

int cgroup_limits_check(struct cgroup_limits *lim,
			const struct cgroup_machine *mach, char *err,
			size_t errlen)
{
	int64_t period = lim->cpu_period;

	if (lim->memory >= 0 && (lim->memory < CGROUP_MEMORY_MIN ||
				 (uint64_t)lim->memory > mach->memory))
		return out_of_range(err, errlen, "memory", lim->memory,
				    CGROUP_MEMORY_MIN, (int64_t)mach->memory,
				    "bytes; at most the machine's RAM");
	if (period >= 0 && lim->cpu_quota < 0) {
		snprintf(err, errlen,
			 "limit 'cpu_period' needs 'cpu_quota' (the CPU time "
			 "allowed per period)");
		return -EINVAL;
	}
	if (period >= 0 &&
	    (period < CGROUP_CPU_PERIOD_MIN || period > CGROUP_CPU_PERIOD_MAX))
		return out_of_range(err, errlen, "cpu_period", period,
				    CGROUP_CPU_PERIOD_MIN,
				    CGROUP_CPU_PERIOD_MAX, "microseconds");
	if (lim->cpu_quota >= 0) {
		if (period < 0)
			period = CGROUP_CPU_PERIOD_DEFAULT;
		int64_t max = period * (int64_t)mach->cpus;

		if (lim->cpu_quota < CGROUP_CPU_QUOTA_MIN ||
		    lim->cpu_quota > max)
			return out_of_range(
				err, errlen, "cpu_quota", lim->cpu_quota,
				CGROUP_CPU_QUOTA_MIN, max,
				"microseconds per period; at most the "
				"period times the machine's CPUs");
		lim->cpu_period = period;
	}
	if (lim->cpu_shares >= 0 && (lim->cpu_shares < CGROUP_SHARES_MIN ||
				     lim->cpu_shares > CGROUP_SHARES_MAX))
		return out_of_range(err, errlen, "cpu_shares", lim->cpu_shares,
				    CGROUP_SHARES_MIN, CGROUP_SHARES_MAX,
				    "relative weight, 1024 is the default");
	if (lim->pids >= 0 &&
	    (lim->pids < 1 || (uint64_t)lim->pids > mach->pid_max))
		return out_of_range(err, errlen, "max_pids", lim->pids, 1,
				    (int64_t)mach->pid_max,
				    "processes; at most the machine's pid_max");
	return 0;
}

int64_t cgroup_shares_to_weight(int64_t shares)
{
	if (shares < CGROUP_SHARES_MIN)
		shares = CGROUP_SHARES_MIN;
	if (shares > CGROUP_SHARES_MAX)
		shares = CGROUP_SHARES_MAX;
	return 1 + ((shares - 2) * 9999) / 262142;
}

void cgroup_instance_name(const char *key, char *buf, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	snprintf(buf, len, "%016" PRIx64, h);
}
