/* SPDX-License-Identifier: MIT */
/*
 * The cgroup module's private structures, shared by cgroup.c (detection,
 * the manager, the removal queue, what both backends need) and its two
 * backends, cgroup-v2.c and cgroup-v1.c, which implement struct cgroup_ops
 * side by side. The unit tests include this header to reach the parsers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup.h"
#include "loop.h"

/* The parent of every instance, below the cgroup cloved runs in. */
#define CGROUP_PARENT "clove"
/* Pure v2: the leaf cloved moves itself into when its own cgroup must be
 * free of processes to enable controllers for its children. */
#define CGROUP_KERNEL_LEAF "cloved"
#define CGROUP_NAME_MAX	   64

/* One hierarchy's instance directory <mount><own>/clove/<instance>. */
struct cgroup_hier {
	int fd;	    /* -EBADF when the hierarchy is not used */
	char *dir;  /* absolute path */
	char *path; /* hierarchy-relative, as /proc/<pid>/cgroup shows it */
};

struct cgroup_ops {
	const char *name;
	/* Fills the manager's hierarchies for this backend and decides which
	 * controllers it serves (and why others are missing). -errno when
	 * this backend cannot be used at all. */
	int (*setup)(struct cgroup_manager *m, char *err, size_t errlen);
	/* Creates (or reuses) cg's directories and opens them. */
	int (*create)(struct cgroup *cg, char *err, size_t errlen);
	/* Writes the limits of the controllers it serves, reads them back
	 * into cg->enforced. */
	int (*apply)(struct cgroup *cg, const struct cgroup_limits *lim,
		     char *err, size_t errlen);
	/* Adds what it knows to ret (fields it does not know stay). */
	int (*counters)(struct cgroup *cg, struct cgroup_counters *ret);
	int (*kill)(struct cgroup *cg);
	int (*freeze)(struct cgroup *cg, bool frozen);
	int (*frozen)(struct cgroup *cg);
	/* Opens the directories of a leftover cgroup that exist. */
	int (*open)(struct cgroup *cg);
	/* Removes what is left of cg's directories: 0 when all are gone,
	 * -EBUSY while processes remain, or another -errno. */
	int (*remove)(struct cgroup *cg);
};

extern const struct cgroup_ops cgroup_v2_ops;
extern const struct cgroup_ops cgroup_v1_ops;

struct cgroup_manager {
	enum cgroup_layout layout;
	char *root;
	char *instance;
	char *self_cgroup;
	/* The v2 backend (v2 and hybrid layouts), the v1 one (hybrid, v1). */
	const struct cgroup_ops *v2;
	const struct cgroup_ops *v1;
	struct cgroup_hier unified;
	struct cgroup_hier v1h[CGROUP_CONTROLLER_MAX];
	/* Controllers each backend enforces (bit = 1 << controller). */
	unsigned v2_controllers;
	unsigned v1_controllers;
	char missing[CGROUP_CONTROLLER_MAX][192];

	struct loop *loop;
	struct loop_timer timer;
	/* Released cgroups whose directories are still there. */
	struct cgroup *pending;
	unsigned npending;
	unsigned retry_ms;
};

struct cgroup {
	struct cgroup_manager *m;
	struct cgroup *next;
	char name[CGROUP_NAME_MAX + 1];
	/* v2 directory and its cgroup.procs; -EBADF when none. */
	int fd;
	int procs_v2_fd;
	/* cgroup.kill was written: see cgroup_clone_fd(). */
	bool killed;
	char *unified_dir;
	char *path;
	/* v1 directories and their cgroup.procs, per controller. */
	int v1_fd[CGROUP_CONTROLLER_MAX];
	int procs_fd[CGROUP_CONTROLLER_MAX];
	char *v1_dir[CGROUP_CONTROLLER_MAX];
	/* The procs fds a child writes "0" into (one per hierarchy). */
	int attach[CGROUP_CONTROLLER_MAX + 1];
	size_t nattach;
	struct cgroup_limits enforced;
};

static inline bool cgroup_has(unsigned mask, enum cgroup_controller c)
{
	return mask & (1u << c);
}

/* cgroup.c: file helpers. Values are short; files are opened O_CLOEXEC. */
/* Writes value to dfd/file in one write(). */
int cgroup_write(int dfd, const char *file, const char *value);
int cgroup_write_int(int dfd, const char *file, int64_t v);
/* Reads dfd/file into buf (NUL-terminated; trailing newline cut). */
int cgroup_read(int dfd, const char *file, char *buf, size_t len);
/* An integer file; "max" (and v1's near-2^63 "unlimited") reads as -1. */
int cgroup_read_int(int dfd, const char *file, int64_t *ret);
/* "key value" lines (memory.events, pids.events, cgroup.events, ...). */
int cgroup_read_key(int dfd, const char *file, const char *key, uint64_t *ret);
int cgroup_parse_key(const char *text, const char *key, uint64_t *ret);
/* mkdirat (an existing directory is fine) then opens it. */
int cgroup_mkdir(int dfd, const char *name, int *ret_fd);
/* Removes dfd/name and the cgroups below it, deepest first. */
int cgroup_rmdir_tree(int dfd, const char *name);
/* Fills h: creates <mount><own>/clove/<instance> and opens it. enable
 * (a v2 tree; may be NULL) runs on <own>, <own>/clove and the instance
 * directory in turn, to let the controllers of *mask reach the agents;
 * it clears the bits it could not enable. dir names <own> for messages. */
int cgroup_hier_open(struct cgroup_manager *m, struct cgroup_hier *h,
		     const char *mount, const char *own,
		     int (*enable)(struct cgroup_manager *m, int dfd,
				   const char *dir, unsigned *mask),
		     unsigned *mask, char *err, size_t errlen);
void cgroup_hier_close(struct cgroup_hier *h);
/* Formats the reason c is missing. */
void cgroup_set_missing(struct cgroup_manager *m, enum cgroup_controller c,
			const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Finds the cgroup of this process in /proc/self/cgroup's text: the v2
 * entry ("0::/path") when controller is NULL, else the v1 line whose
 * controller list holds controller. -ENOENT when there is none.
 */
int cgroup_parse_self(const char *text, const char *controller, char *buf,
		      size_t len);
