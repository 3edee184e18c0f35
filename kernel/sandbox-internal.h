/* SPDX-License-Identifier: MIT */
/*
 * The sandbox module's private structures, shared by its files: sandbox.c
 * (context, namespaces, capabilities, the isolation report), sandbox-plan.c
 * (what an agent's view holds), sandbox-mount.c (building the new root),
 * sandbox-seccomp.c, sandbox-landlock.c and sandbox-init.c (PID 1 and the
 * fork into the sandbox). Nothing outside the sandbox module includes this.
 */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox.h"

/* What one entry of a view is. */
enum sandbox_mount_kind {
	/* src bound read-only (nosuid, nodev) at dst, recursively. */
	SANDBOX_MNT_BIND_RO,
	/* src bound writable (nosuid, nodev) at dst: the work directory. */
	SANDBOX_MNT_BIND_RW,
	/* A device node bound writable (nosuid, noexec). */
	SANDBOX_MNT_BIND_DEV,
	/* A symlink at dst whose target is src. */
	SANDBOX_MNT_SYMLINK,
	/* A tmpfs at dst with the options in src. */
	SANDBOX_MNT_TMPFS,
	/* A new, read-only proc at dst (after the PID namespace exists). */
	SANDBOX_MNT_PROC,
	/* /dev/null over a file, an empty read-only tmpfs over a directory. */
	SANDBOX_MNT_MASK,
	/* A small file at dst holding the text src. */
	SANDBOX_MNT_FILE,
};

struct sandbox_mount {
	enum sandbox_mount_kind kind;
	/* The mount point is a directory (else a file). */
	bool dir;
	/* Absolute, normalized path inside the sandbox. */
	const char *dst;
	const char *src;
	/* mount(2) flags of tmpfs and proc entries. */
	unsigned long flags;
	/* Only in the views of agents with network access (DNS, TLS). */
	bool network_only;
	/*
	 * Set for sources an agent can change (files in its work directory):
	 * src is then relative to this host directory and is opened beneath
	 * it without following any symlink, in the child, right before the
	 * bind — so a symlink swapped in meanwhile cannot redirect the bind.
	 */
	const char *beneath;
};

struct sandbox_netns_pool;

struct sandbox_context {
	/* Network namespaces made ahead (root kernels only), or NULL. */
	struct sandbox_netns_pool *netns_pool;
	/* Why no sandbox can be made here (owned), or NULL. */
	char *error;
	char *state_dir;
	/* Mount point of every sandbox's new root: <state_dir>/sandbox-root. */
	char *root_dir;
	/* The seccomp program, exported from libseccomp once. */
	struct sock_filter *filter;
	unsigned short filter_len;
	int landlock_abi;
	char landlock_reason[192];
	/* Highest capability number, for the bounding set. */
	int cap_last;
	/* Not root: sandboxes need a user namespace (mapping uid and gid). */
	bool userns;
	uid_t uid;
	gid_t gid;
	/* The entries every view has (sorted by dst). */
	struct sandbox_mount *system;
	size_t nsystem;
	/* Owned strings of the entries. */
	char **strings;
	size_t nstrings;
};

/* A growing list of owned strings: returns s (now owned) or NULL on
 * ENOMEM (s is then freed). */
char *sandbox_own(char ***strings, size_t *n, char *s);
/* Sorts entries by destination, so parents come before their children. */
void sandbox_mounts_sort(struct sandbox_mount *m, size_t n);

/* sandbox-mount.c */
/* The system entries of ctx: /usr and friends, a minimal /etc, /dev, /proc
 * and its masks. */
int sandbox_mount_system(struct sandbox_context *ctx);
/* Child: builds s's view on a tmpfs at ctx->root_dir and pivots into it. */
int sandbox_mount_root(const struct sandbox_spec *s, struct sandbox_fail *f);

/* sandbox-plan.c */
/* The entries of one agent (interpreter, script, work dir, /tmp, ...),
 * merged with the system ones into s->mounts. */
int sandbox_plan_build(struct sandbox_spec *s,
		       const struct sandbox_request *req, char *err,
		       size_t errlen);

/* sandbox-netns.c */
/* Starts the thread that keeps a few empty network namespaces ready. */
int sandbox_netns_pool_new(struct sandbox_netns_pool **ret);
void sandbox_netns_pool_free(struct sandbox_netns_pool *p);
/* An fd of a new, never used network namespace, or -EAGAIN. */
int sandbox_netns_take(struct sandbox_netns_pool *p);

/* sandbox-seccomp.c */
/* Builds ctx's filter with libseccomp; err says why on failure. */
int sandbox_seccomp_build(struct sandbox_context *ctx, char *err,
			  size_t errlen);
/* Child: installs the filter (no_new_privs must be set). */
int sandbox_seccomp_apply(const struct sandbox_context *ctx);

/* sandbox-landlock.c */
/* The kernel's Landlock ABI (0 with a reason when it has none). */
int sandbox_landlock_probe(char *reason, size_t len);
/* Child: read/exec on the whole view, read/write on the work directory,
 * /tmp and /dev/shm, devices usable, nothing else. */
int sandbox_landlock_apply(const struct sandbox_spec *s,
			   struct sandbox_fail *f);

/* sandbox.c, child side */
/* rlimits, securebits, capabilities (all sets), no_new_privs, seccomp. */
int sandbox_lockdown(const struct sandbox_spec *s, struct sandbox_fail *f);

/* sandbox-init.c */
/* What PID 1 writes on the status pipe. */
struct sandbox_status {
	unsigned magic;
	int code;
	int signal;
};
#define SANDBOX_STATUS_MAGIC 0x434c5631u /* "CLV1" */

/* Bounded string helpers usable in the child. */
/* Writes a + b into buf (size len). -ENAMETOOLONG if it does not fit. */
int sandbox_path_join(char *buf, size_t len, const char *a, const char *b);
