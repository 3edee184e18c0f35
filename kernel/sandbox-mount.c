/* SPDX-License-Identifier: MIT */
/*
 * An agent's filesystem view. The parent decides what the view holds (the
 * system entries here, once per kernel; the agent's own in sandbox-plan.c);
 * the child builds it: every mount made private first, so nothing leaks to
 * or from the host; a tmpfs as the new root, mounted on the kernel's
 * <state_dir>/sandbox-root in the child's own mount namespace; the entries
 * in order of their paths (a parent before what is mounted beneath it);
 * then pivot_root into it, the old root detached, and the root and /dev
 * made read-only. Read-only binds are made read-only recursively with
 * mount_setattr(), so no submount of a bound tree stays writable.
 *
 * Every system call counts here (a spawn makes about fifty, and on a
 * virtual machine even a mkdir costs microseconds): the entries come
 * sorted, so directories the previous entry made are not made again, and
 * what only serves the network (resolver and TLS configuration) is left
 * out of views that have none.
 *
 * /proc is a new proc (the child already is PID 1 of its own PID
 * namespace, so it shows only the agent's processes), mounted read-only:
 * no writes to /proc/sys or /proc/sysrq-trigger even for an agent whose
 * uid is 0. Files of /proc that describe the whole machine (kernel memory,
 * timers of every process, slab and vmalloc details) are masked.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-internal.h"

/* The new root holds only mount points and a few small files. */
#define ROOT_TMPFS_OPTS "mode=0755,size=4m,nr_inodes=16384"
#define DEV_TMPFS_OPTS	"mode=0755,size=64k,nr_inodes=128"
#define MASK_TMPFS_OPTS "mode=0555,size=4k,nr_inodes=2"

/* Top-level directories merged-/usr systems turn into symlinks. */
static const char *const top_dirs[] = { "/bin",	  "/sbin",  "/lib",
					"/lib32", "/lib64", "/libx32" };

/* What of /etc an interpreter and the C library use at run time (passwd,
 * group and hosts are generated instead of bound). */
static const char *const etc_entries[] = {
	"nsswitch.conf", "ld.so.cache", "localtime",	"protocols",
	"services",	 "os-release",	"alternatives",
};

/* What only matters with network access: name resolution and TLS. */
static const char *const etc_network[] = {
	"resolv.conf", "host.conf",	  "gai.conf",	     "ssl",
	"pki",	       "crypto-policies", "ca-certificates",
};

static const char *const devices[] = { "null",	 "zero",    "full",
				       "random", "urandom", "tty" };

static const char *const dev_links[][2] = {
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
};

/* /proc files about the whole machine rather than the agent. */
static const char *const proc_masks[] = {
	"/proc/kcore",	     "/proc/keys",	  "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug", "/proc/latency_stats",
	"/proc/slabinfo",    "/proc/vmallocinfo", "/proc/sysrq-trigger",
	"/proc/acpi",	     "/proc/scsi",
};

int sandbox_path_join(char *buf, size_t len, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la + lb + 1 > len)
		return -ENAMETOOLONG;
	memcpy(buf, a, la);
	memcpy(buf + la, b, lb + 1);
	return 0;
}

/* --- parent side: the system entries --- */

static int add(struct sandbox_context *c, enum sandbox_mount_kind kind,
	       bool dir, const char *dst, const char *src, unsigned long flags)
{
	struct sandbox_mount *m;
	char *d = sandbox_own(&c->strings, &c->nstrings, strdup(dst));
	char *s = src ? sandbox_own(&c->strings, &c->nstrings, strdup(src))
		      : NULL;

	if (!d || (src && !s))
		return -ENOMEM;
	m = realloc(c->system, (c->nsystem + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	c->system = m;
	c->system[c->nsystem++] = (struct sandbox_mount){
		.kind = kind, .dir = dir, .dst = d, .src = s, .flags = flags
	};
	return 0;
}

/* path as it is on the host: a symlink that resolves inside /usr is kept
 * as a symlink (it works in the view too), anything else is bound. */
static int add_host_path(struct sandbox_context *c, const char *path)
{
	char target[PATH_MAX], real[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0 || !realpath(path, real))
			return 0;
		target[n] = '\0';
		if (strncmp(real, "/usr/", 5) == 0)
			return add(c, SANDBOX_MNT_SYMLINK, false, path, target,
				   0);
		if (stat(real, &st) < 0)
			return 0;
		return add(c, SANDBOX_MNT_BIND_RO, S_ISDIR(st.st_mode), path,
			   real, 0);
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return 0;
	return add(c, SANDBOX_MNT_BIND_RO, S_ISDIR(st.st_mode), path, path, 0);
}

static int add_etc(struct sandbox_context *c)
{
	char path[PATH_MAX];
	int r = 0;

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(etc_entries); i++) {
		snprintf(path, sizeof(path), "/etc/%s", etc_entries[i]);
		r = add_host_path(c, path);
	}
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(etc_network); i++) {
		size_t n = c->nsystem;
		snprintf(path, sizeof(path), "/etc/%s", etc_network[i]);
		r = add_host_path(c, path);
		if (r == 0 && c->nsystem > n)
			c->system[n].network_only = true;
	}
	/* Debian's python3.X/sitecustomize.py is a link into /etc. */
	for (int minor = 0; r == 0 && minor < 40; minor++) {
		snprintf(path, sizeof(path), "/etc/python3.%d", minor);
		r = add_host_path(c, path);
	}
	if (r == 0)
		r = add_host_path(c, "/etc/python3");
	return r;
}

/* passwd and group name only root, nobody and the kernel's own user. */
static int add_identity(struct sandbox_context *c)
{
	bool own_user = c->uid != 0 && c->uid != 65534;
	bool own_group = c->gid != 0 && c->gid != 65534;
	struct passwd *pw = own_user ? getpwuid(c->uid) : NULL;
	struct group *gr = own_group ? getgrgid(c->gid) : NULL;
	char passwd[512], group[256];
	int n, r;

	n = snprintf(passwd, sizeof(passwd),
		     "root:x:0:0:root:/root:/bin/sh\n"
		     "nobody:x:65534:65534:nobody:/nonexistent:"
		     "/usr/sbin/nologin\n");
	if (own_user)
		snprintf(passwd + n, sizeof(passwd) - (size_t)n,
			 "%.64s:x:%u:%u::/:/bin/sh\n",
			 pw ? pw->pw_name : "clove", (unsigned)c->uid,
			 (unsigned)c->gid);
	n = snprintf(group, sizeof(group), "root:x:0:\nnogroup:x:65534:\n");
	if (own_group)
		snprintf(group + n, sizeof(group) - (size_t)n, "%.64s:x:%u:\n",
			 gr ? gr->gr_name : "clove", (unsigned)c->gid);
	r = add(c, SANDBOX_MNT_FILE, false, "/etc/passwd", passwd, 0);
	return r < 0 ? r
		     : add(c, SANDBOX_MNT_FILE, false, "/etc/group", group, 0);
}

static int add_dev(struct sandbox_context *c)
{
	char path[64];
	int r;

	r = add(c, SANDBOX_MNT_TMPFS, true, "/dev", DEV_TMPFS_OPTS,
		MS_NOSUID | MS_NODEV | MS_NOEXEC);
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(devices); i++) {
		snprintf(path, sizeof(path), "/dev/%s", devices[i]);
		if (access(path, F_OK) == 0)
			r = add(c, SANDBOX_MNT_BIND_DEV, false, path, path, 0);
	}
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(dev_links); i++)
		r = add(c, SANDBOX_MNT_SYMLINK, false, dev_links[i][0],
			dev_links[i][1], 0);
	return r;
}

static int add_proc(struct sandbox_context *c)
{
	struct stat st;
	int r = add(c, SANDBOX_MNT_PROC, true, "/proc", NULL,
		    MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(proc_masks); i++)
		if (lstat(proc_masks[i], &st) == 0)
			r = add(c, SANDBOX_MNT_MASK, S_ISDIR(st.st_mode),
				proc_masks[i], NULL, 0);
	return r;
}

int sandbox_mount_system(struct sandbox_context *c)
{
	int r = add_host_path(c, "/usr");

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(top_dirs); i++)
		r = add_host_path(c, top_dirs[i]);
	if (r == 0)
		r = add_etc(c);
	if (r == 0)
		r = add_identity(c);
	if (r == 0)
		r = add_dev(c);
	if (r == 0)
		r = add_proc(c);
	if (r == 0)
		sandbox_mounts_sort(c->system, c->nsystem);
	return r;
}

/* --- child side: building the view --- */

static int fail(struct sandbox_fail *f, int step, const char *path)
{
	f->step = step;
	f->path = path;
	return negative_errno();
}

/* Creates the directories above target (inside the new root, whose own
 * path is root_len bytes long), except those of the previous target,
 * which exist: the first `known` bytes of target. */
static int mkdir_parents(char *target, size_t root_len, size_t known)
{
	for (char *p = target + MAX(root_len, known) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(target, 0755);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return negative_errno();
	}
	return 0;
}

static int make_mount_point(const char *target, bool dir)
{
	int r = dir ? mkdir(target, 0755)
		    : mknodat(AT_FDCWD, target, S_IFREG | 0644, 0);

	return r < 0 && errno != EEXIST ? negative_errno() : 0;
}

static int set_attr(const char *target, uint64_t set, bool recursive)
{
	struct mount_attr attr = { .attr_set = set };

	if (mount_setattr(AT_FDCWD, target, recursive ? AT_RECURSIVE : 0, &attr,
			  sizeof(attr)) < 0)
		return negative_errno();
	return 0;
}

/* Writes the decimal of n after prefix into buf (no stdio in the child). */
static void fd_path(char buf[32], int n)
{
	char digits[12];
	int i = 0;

	do
		digits[i++] = (char)('0' + n % 10);
	while ((n /= 10) > 0 && i < 11);
	memcpy(buf, "/proc/self/fd/", 14);
	for (int j = 0; j < i; j++)
		buf[14 + j] = digits[i - 1 - j];
	buf[14 + i] = '\0';
}

/* An agent-writable source: opened beneath its directory with no symlink
 * followed, then bound through its fd, so the bind gets exactly the file
 * that was checked. */
static int bind_beneath(const struct sandbox_mount *m, const char *target)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	char src[32];
	int dfd, fd, r = 0;

	dfd = open(m->beneath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	fd = (int)syscall(SYS_openat2, dfd, m->src, &how, sizeof(how));
	if (fd < 0)
		r = negative_errno();
	close(dfd);
	if (r < 0)
		return r;
	fd_path(src, fd);
	if (mount(src, target, NULL, MS_BIND, NULL) < 0)
		r = negative_errno();
	close(fd);
	return r;
}

static int do_bind(const struct sandbox_mount *m, const char *target,
		   struct sandbox_fail *f)
{
	/* A device bind keeps its source's flags: read-write, and nodev
	 * would make it useless; /dev itself turns read-only at the end. */
	bool dev = m->kind == SANDBOX_MNT_BIND_DEV;
	uint64_t attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	int r;

	if (m->beneath)
		r = bind_beneath(m, target);
	else
		r = mount(m->src, target, NULL, MS_BIND | (dev ? 0 : MS_REC),
			  NULL) < 0
			    ? negative_errno()
			    : 0;
	if (r < 0 || dev) {
		f->step = SANDBOX_STEP_BIND;
		f->path = m->dst;
		return r;
	}
	if (m->kind == SANDBOX_MNT_BIND_RO)
		attr |= MOUNT_ATTR_RDONLY;
	r = set_attr(target, attr, true);
	if (r < 0) {
		f->step = SANDBOX_STEP_READONLY;
		f->path = m->dst;
	}
	return r;
}

static int write_file(const struct sandbox_mount *m, const char *target)
{
	size_t len = strlen(m->src), off = 0;
	int fd = open(target,
		      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		      0644);
	int r = 0;

	if (fd < 0)
		return negative_errno();
	while (off < len) {
		ssize_t n = write(fd, m->src + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? negative_errno() : -EIO;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	return r;
}

static int do_mask(const struct sandbox_mount *m, const char *target)
{
	if (m->dir) {
		if (mount("tmpfs", target, "tmpfs",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  MASK_TMPFS_OPTS) < 0)
			return negative_errno();
		return 0;
	}
	if (mount("/dev/null", target, NULL, MS_BIND, NULL) < 0)
		return negative_errno();
	return set_attr(target,
			MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
				MOUNT_ATTR_NOEXEC,
			false);
}

/* Where the directories target and prev share end: the index of the
 * slash after the last of them (0 for none but the root). */
static size_t common_dirs(const char *target, const char *prev)
{
	size_t n = 0, i;

	for (i = 0; target[i] && target[i] == prev[i]; i++)
		if (target[i] == '/')
			n = i;
	/* prev itself is a directory above target. */
	if (i > 0 && prev[i] == '\0' && target[i] == '/')
		n = i;
	return n;
}

/* Makes one entry at root + m->dst; prev is the previous entry's target
 * (its directories exist). */
static int make_entry(const struct sandbox_mount *m, const char *root,
		      size_t root_len, char *prev, struct sandbox_fail *f)
{
	char target[PATH_MAX];
	size_t known;
	int r;

	if (sandbox_path_join(target, sizeof(target), root, m->dst) < 0) {
		errno = ENAMETOOLONG;
		return fail(f,
			    m->kind == SANDBOX_MNT_FILE ? SANDBOX_STEP_FILE
							: SANDBOX_STEP_BIND,
			    m->dst);
	}
	known = common_dirs(target, prev);
	memcpy(prev, target, strlen(target) + 1);
	if (m->kind != SANDBOX_MNT_MASK) {
		r = mkdir_parents(target, root_len, known);
		if (r < 0)
			return fail(f, SANDBOX_STEP_MKDIR, m->dst);
	}
	switch (m->kind) {
	case SANDBOX_MNT_BIND_RO:
	case SANDBOX_MNT_BIND_RW:
	case SANDBOX_MNT_BIND_DEV:
		if (make_mount_point(target, m->dir) < 0)
			return fail(f, SANDBOX_STEP_MKDIR, m->dst);
		return do_bind(m, target, f);
	case SANDBOX_MNT_SYMLINK:
		if (symlink(m->src, target) < 0 && errno != EEXIST)
			return fail(f, SANDBOX_STEP_SYMLINK, m->dst);
		return 0;
	case SANDBOX_MNT_TMPFS:
		if (make_mount_point(target, true) < 0)
			return fail(f, SANDBOX_STEP_MKDIR, m->dst);
		if (mount("tmpfs", target, "tmpfs", m->flags, m->src) < 0)
			return fail(f, SANDBOX_STEP_TMPFS, m->dst);
		return 0;
	case SANDBOX_MNT_PROC:
		if (make_mount_point(target, true) < 0)
			return fail(f, SANDBOX_STEP_MKDIR, m->dst);
		if (mount("proc", target, "proc", m->flags, NULL) < 0)
			return fail(f, SANDBOX_STEP_PROC, m->dst);
		return 0;
	case SANDBOX_MNT_MASK:
		r = do_mask(m, target);
		if (r < 0) {
			errno = -r;
			return fail(f, SANDBOX_STEP_MASK, m->dst);
		}
		return 0;
	case SANDBOX_MNT_FILE:
		r = write_file(m, target);
		if (r < 0) {
			errno = -r;
			return fail(f, SANDBOX_STEP_FILE, m->dst);
		}
		return 0;
	}
	errno = EINVAL;
	return fail(f, SANDBOX_STEP_BIND, m->dst);
}

static int pivot(const char *root, struct sandbox_fail *f)
{
	/* pivot_root(".", "."): the old root ends up on top of the new one
	 * and is detached at once; no directory for it is needed. */
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return fail(f, SANDBOX_STEP_PIVOT, root);
	if (set_attr("/",
		     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
		     false) < 0)
		return fail(f, SANDBOX_STEP_READONLY, "/");
	return 0;
}

int sandbox_mount_root(const struct sandbox_spec *s, struct sandbox_fail *f)
{
	const char *root = s->ctx->root_dir;
	size_t root_len = strlen(root);
	char dev[PATH_MAX], prev[PATH_MAX] = "";
	int r;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(f, SANDBOX_STEP_PRIVATE, "/");
	if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV,
		  ROOT_TMPFS_OPTS) < 0)
		return fail(f, SANDBOX_STEP_ROOT, root);
	for (size_t i = 0; i < s->nmounts; i++) {
		r = make_entry(&s->mounts[i], root, root_len, prev, f);
		if (r < 0)
			return r;
	}
	/* Its devices are separate mounts and stay usable. */
	if (sandbox_path_join(dev, sizeof(dev), root, "/dev") == 0 &&
	    set_attr(dev,
		     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			     MOUNT_ATTR_NOEXEC,
		     false) < 0)
		return fail(f, SANDBOX_STEP_READONLY, "/dev");
	return pivot(root, f);
}
