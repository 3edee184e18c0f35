/* SPDX-License-Identifier: MIT */
/*
 * cgroups for agents: the layout of the host is detected once (pure v2,
 * hybrid v1 controllers + the v2 tree at <root>/unified, or legacy v1), and
 * a manager then creates one cgroup per agent under a parent that belongs to
 * this kernel instance: "<own>/clove/<instance>/<name>" in every hierarchy it
 * uses, where <own> is the cgroup cloved itself runs in. The v2 directory
 * (when there is a v2 tree) is the agent's identity: processes are cloned
 * into it (CLONE_INTO_CGROUP), killed with cgroup.kill and paused with
 * cgroup.freeze. Controllers the v2 tree lacks are taken from v1
 * hierarchies; a child joins those by writing "0" into their cgroup.procs
 * before it execs. A limit whose controller is nowhere available is not
 * applied, and cgroup_manager_missing() says why — nothing here claims a
 * limit that the files do not show.
 *
 * Removal never blocks: cgroup_release() kills what is left and removes the
 * directories at once, or later on a loop timer while they are still busy
 * (a process that is dying keeps its cgroup populated for a moment).
 *
 * Backends (cgroup-v1.c, cgroup-v2.c) sit behind struct cgroup_ops in
 * cgroup-internal.h. Nothing here logs: functions return 0 or -errno, and
 * those that take err/errlen put a sentence there naming the file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct cgroup_manager;
struct cgroup;

enum cgroup_layout {
	CGROUP_LAYOUT_NONE,   /* no cgroup filesystem found */
	CGROUP_LAYOUT_V1,     /* legacy: v1 hierarchies only */
	CGROUP_LAYOUT_HYBRID, /* v1 controllers + a v2 tree at <root>/unified */
	CGROUP_LAYOUT_V2,     /* the unified hierarchy at <root> */
};

enum cgroup_controller {
	CGROUP_MEMORY,
	CGROUP_CPU,
	CGROUP_PIDS,
	/* v1 only, and only used on legacy hosts (v2 has cgroup.freeze). */
	CGROUP_FREEZER,
	CGROUP_CONTROLLER_MAX,
};

/* Limits of one cgroup; -1 means "not set" (unlimited). */
struct cgroup_limits {
	int64_t memory;	    /* bytes, RAM + swap */
	int64_t cpu_quota;  /* µs of CPU time per period */
	int64_t cpu_period; /* µs */
	int64_t cpu_shares; /* v1 scale 2..262144 (v2: mapped to cpu.weight) */
	int64_t pids;	    /* processes and threads */
	int64_t cpu_weight; /* v2 only, read back; never requested */
};

#define CGROUP_LIMITS_NONE                         \
	((struct cgroup_limits){ .memory = -1,     \
				 .cpu_quota = -1,  \
				 .cpu_period = -1, \
				 .cpu_shares = -1, \
				 .pids = -1,       \
				 .cpu_weight = -1 })

/* Bounds of valid limits (see cgroup_limits_check()). */
#define CGROUP_MEMORY_MIN	  (4LL << 20)
#define CGROUP_CPU_PERIOD_MIN	  1000LL
#define CGROUP_CPU_PERIOD_MAX	  1000000LL
#define CGROUP_CPU_PERIOD_DEFAULT 100000LL
#define CGROUP_CPU_QUOTA_MIN	  1000LL
#define CGROUP_SHARES_MIN	  2LL
#define CGROUP_SHARES_MAX	  262144LL

/* Event counters, which only grow, so callers compare two readings; and
 * the memory in use now. */
struct cgroup_counters {
	uint64_t oom_kills;    /* processes the OOM killer killed */
	uint64_t pids_max;     /* forks refused at pids.max */
	uint64_t cpu_usage_us; /* CPU time used (0 when unknown) */
	/* Bytes charged against the memory limit (RAM, plus swap where the
	 * limit counts it); 0 when unknown. */
	uint64_t memory_bytes;
};

/* What the machine has, for cgroup_limits_check(). */
struct cgroup_machine {
	uint64_t memory; /* bytes of RAM */
	unsigned cpus;	 /* CPUs this process may run on */
	uint64_t pid_max;
};

struct cgroup_config {
	/* Where cgroupfs is mounted: "/sys/fs/cgroup" (tests: a fake tree). */
	const char *root;
	/* 1..64 of [A-Za-z0-9._-]: one kernel instance's parent directory. */
	const char *instance;
	/* CGROUP_LAYOUT_NONE: detect with statfs; tests force one. */
	enum cgroup_layout layout;
	/* The text of /proc/self/cgroup; NULL: read it. */
	const char *self_cgroup;
};

/* "none", "v1", "hybrid", "v2". */
const char *cgroup_layout_name(enum cgroup_layout l);
/* "memory", "cpu", "pids", "freezer". */
const char *cgroup_controller_name(enum cgroup_controller c);

/* Looks at root with statfs. 0 with *ret set (NONE when nothing usable). */
int cgroup_detect(const char *root, enum cgroup_layout *ret);

/*
 * Sets up the instance's parent directories (creating them, and enabling
 * the controllers of a v2 tree in cgroup.subtree_control on the way down).
 * Fails (-errno, err says why) only when no cgroup at all can be made for
 * agents; a missing controller is not a failure (cgroup_manager_missing()).
 */
int cgroup_manager_new(const struct cgroup_config *cfg,
		       struct cgroup_manager **ret, char *err, size_t errlen);
/* The loop whose timer retries removals; NULL (before the loop is freed):
 * removals are then only tried at once and again in cgroup_manager_free(). */
void cgroup_manager_set_loop(struct cgroup_manager *m, struct loop *l);
/*
 * Tries for up to wait_ms (sleeping: the loop is gone by then) to remove
 * every cgroup still pending and the instance's directories, then frees m.
 * Returns how many agent cgroups could not be removed. NULL is fine.
 */
unsigned cgroup_manager_free(struct cgroup_manager *m, unsigned wait_ms);

enum cgroup_layout cgroup_manager_layout(const struct cgroup_manager *m);
/* NULL when c is enforced in some hierarchy, else why it is not. */
const char *cgroup_manager_missing(const struct cgroup_manager *m,
				   enum cgroup_controller c);
/* True when cgroups can be frozen (v2 cgroup.freeze or a v1 freezer). */
bool cgroup_manager_can_freeze(const struct cgroup_manager *m);
/* The instance directory in the v2 tree (or the first v1 hierarchy). */
const char *cgroup_manager_dir(const struct cgroup_manager *m);
/* Cgroups released but not removed yet. */
unsigned cgroup_manager_pending(const struct cgroup_manager *m);

/*
 * Kills every process left in the instance's cgroups by an earlier kernel
 * that died without cleaning up, and removes them (or queues them). Returns
 * how many leftover cgroups it found, or -errno.
 */
int cgroup_manager_sweep(struct cgroup_manager *m);

/*
 * Creates the cgroup <name> (1..64 of [A-Za-z0-9._-]) in every hierarchy in
 * use and applies lim: a limit of -1 is written as "unlimited", so a
 * directory left over by an earlier run (reused, after its processes are
 * killed) starts clean. Errors: -errno, err names the file.
 */
int cgroup_new(struct cgroup_manager *m, const char *name,
	       const struct cgroup_limits *lim, struct cgroup **ret, char *err,
	       size_t errlen);
/* Kills what is left in cg and removes its directories, now or on the
 * manager's timer. cg must not be used afterwards. NULL is fine. */
void cgroup_release(struct cgroup *cg);

/* The v2 directory, or -EBADF on legacy hosts. */
int cgroup_fd(const struct cgroup *cg);
/*
 * How a child gets into cg: clone3 CLONE_INTO_CGROUP with cgroup_clone_fd()
 * (-EBADF: none), then writing "0" into each of cgroup_attach_fds() (the
 * v1 cgroup.procs, and the v2 one instead of cloning into it once cg has
 * been killed: see cgroup.c). Returns the count of attach fds.
 */
int cgroup_clone_fd(const struct cgroup *cg);
size_t cgroup_attach_fds(const struct cgroup *cg, const int **ret);
/* The limits in force, read back from the files after writing them. */
const struct cgroup_limits *cgroup_enforced(const struct cgroup *cg);
/* The v2 path as /proc/<pid>/cgroup shows it ("/clove/x/agent-4"); NULL on
 * legacy hosts. */
const char *cgroup_path(const struct cgroup *cg);
/* Absolute directories: the v2 one, and the v1 one serving controller c
 * (NULL when none does). */
const char *cgroup_unified_dir(const struct cgroup *cg);
const char *cgroup_v1_dir(const struct cgroup *cg, enum cgroup_controller c);

/* SIGKILL to every process in cg, descendants that left their process
 * group or session included. */
int cgroup_kill(struct cgroup *cg);
/* Freezes or thaws cg; freezing completes asynchronously (cgroup_frozen).
 * -EOPNOTSUPP without a freezer. */
int cgroup_freeze(struct cgroup *cg, bool frozen);
/* 1 when every process in cg is frozen, 0 if not (yet), or -errno. */
int cgroup_frozen(struct cgroup *cg);
int cgroup_counters(struct cgroup *cg, struct cgroup_counters *ret);

/* RAM, CPUs (affinity) and pid_max of this machine. */
int cgroup_machine_read(struct cgroup_machine *ret);
/*
 * Checks requested limits against the bounds above and the machine:
 * memory within [CGROUP_MEMORY_MIN, RAM], cpu_period within [1 ms, 1 s]
 * (defaulted to 100 ms when only cpu_quota is given; alone it is an
 * error), cpu_quota within [1 ms, period × CPUs], cpu_shares within
 * [2, 262144], pids within [1, pid_max]. Fills in the default period.
 * -EINVAL with a sentence naming the limit.
 */
int cgroup_limits_check(struct cgroup_limits *lim,
			const struct cgroup_machine *mach, char *err,
			size_t errlen);

/* v1 cpu.shares to v2 cpu.weight (the OCI runtimes' linear mapping). */
int64_t cgroup_shares_to_weight(int64_t shares);

/* A stable instance name for key (e.g. the state directory): 16 hex
 * digits. buf must hold 17 bytes. */
void cgroup_instance_name(const char *key, char *buf, size_t len);
