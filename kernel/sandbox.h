/* SPDX-License-Identifier: MIT */
/*
 * The agent sandbox (DESIGN §5). The kernel builds a sandbox_context once at
 * start (the seccomp program exported from libseccomp, the Landlock ABI, the
 * mounts every sandbox shares) and, per agent, a sandbox_spec: its view of
 * the filesystem (system binds, its interpreter, its script, its work
 * directory, a /tmp of tmp_size), its hostname and whether it keeps the
 * host's network. proc_spawn() takes the spec through proc_spec.sandbox and
 * runs the child-side functions below between clone3 and execve:
 *
 *   clone3 (new user?, pid, mount, uts, ipc, cgroup, net? namespaces)
 *   -> sandbox_child_enter():  uid/gid maps, private mounts, a tmpfs root
 *      with read-only binds, /tmp, /proc, /dev, pivot_root, hostname
 *   -> (proc.c places fds 0..3 and changes directory)
 *   -> sandbox_child_finish(): rlimits, capabilities dropped, no_new_privs,
 *      seccomp; then fork: the child applies Landlock and returns to exec
 *      the agent, the parent stays as PID 1 (reaps, forwards signals, exits
 *      with the agent's status) and never returns.
 *
 * EXEC of a sandboxed agent uses a join spec (sandbox_spec_join): the child
 * enters the agent's namespaces through its init's pidfd instead, forks
 * into its PID namespace, and the command gets the same lockdown.
 *
 * Child-side functions make only async-signal-safe calls and report a
 * failure as (step, errno, path) through struct sandbox_fail.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox_context;
struct sandbox_mount;

/* Default and bounds of the size of an agent's /tmp (and /dev/shm). */
#define SANDBOX_TMP_SIZE_DEFAULT (64ull << 20)
#define SANDBOX_TMP_SIZE_MIN	 (64ull << 10)
#define SANDBOX_TMP_SIZE_MAX	 (64ull << 30)
/* RLIMIT_NOFILE of sandboxed processes (lower if the kernel's is lower). */
#define SANDBOX_NOFILE 1024

/* Steps of the child-side setup, for failure reports. Numbered from
 * SANDBOX_STEP_BASE so that proc.c can carry them beside its own. */
enum sandbox_step {
	SANDBOX_STEP_BASE = 100,
	SANDBOX_STEP_DUMPABLE = SANDBOX_STEP_BASE,
	SANDBOX_STEP_USERNS,
	SANDBOX_STEP_PRIVATE,
	SANDBOX_STEP_ROOT,
	SANDBOX_STEP_MKDIR,
	SANDBOX_STEP_BIND,
	SANDBOX_STEP_READONLY,
	SANDBOX_STEP_SYMLINK,
	SANDBOX_STEP_TMPFS,
	SANDBOX_STEP_PROC,
	SANDBOX_STEP_MASK,
	SANDBOX_STEP_FILE,
	SANDBOX_STEP_PIVOT,
	SANDBOX_STEP_HOSTNAME,
	SANDBOX_STEP_SETNS,
	SANDBOX_STEP_CGROUPNS,
	SANDBOX_STEP_RLIMIT,
	SANDBOX_STEP_CAPS,
	SANDBOX_STEP_NO_NEW_PRIVS,
	SANDBOX_STEP_SECCOMP,
	SANDBOX_STEP_LANDLOCK,
	SANDBOX_STEP_SIGNALS,
	SANDBOX_STEP_FORK,
	SANDBOX_STEP_MAX,
};

/* Name of a step ("bind", "pivot_root", ...), or NULL if out of range. */
const char *sandbox_step_name(int step);

/* Where a child-side step failed; path points into the spec (or is NULL). */
struct sandbox_fail {
	int step;
	const char *path;
};

/*
 * Probes what this host offers and prepares what every sandbox shares.
 * state_dir holds the mount point of the sandboxes' roots. Never fails for
 * a missing feature: a context that cannot sandbox says why through
 * sandbox_context_error(). Returns 0 or -ENOMEM.
 */
int sandbox_context_new(const char *state_dir, struct sandbox_context **ret);
void sandbox_context_free(struct sandbox_context *c);
/* NULL when sandboxes can be made, else the reason they cannot. */
const char *sandbox_context_error(const struct sandbox_context *c);
/* Landlock ABI version of the running kernel, 0 if it has none. */
int sandbox_landlock_abi(const struct sandbox_context *c);

/* One agent's sandbox: built by sandbox_spec_new(), owned by the agent. */
struct sandbox_spec {
	const struct sandbox_context *ctx;
	/* Join mode (EXEC): enter the namespaces of this process instead of
	 * making new ones. -1 in create mode. */
	int join_pidfd;
	/* The agent's own user and network namespaces (for join mode). */
	bool userns;
	bool network;
	const char *hostname;
	/* Writable, bound at its own path, the cwd. */
	const char *work_dir;
	uint64_t tmp_size;
	/* Sorted by destination, parents before children. */
	struct sandbox_mount *mounts;
	size_t nmounts;
	/* Create mode, set by sandbox_spec_arm() for one start: the write
	 * end of the pipe on which PID 1 reports the agent's real exit status
	 * (sandbox_status_read), and a ready network namespace to enter
	 * instead of making one; -1 for none. */
	int status_fd;
	int netns_fd;
	/* Owned strings of the entries above. */
	char **strings;
	size_t nstrings;
};

/* What to put in an agent's sandbox. */
struct sandbox_request {
	/* Program and script as the child will exec them. */
	const char *program;
	const char *script;
	const char *work_dir;
	const char *hostname;
	bool network;
	uint64_t tmp_size;
	/* Search the interpreter's prefix, venv and .pth files for what it
	 * needs. Only for programs no agent could have written. */
	bool discover;
	/* The spawning agent's sandbox, or NULL: program and script must then
	 * be inside that agent's view. */
	const struct sandbox_spec *parent;
};

/*
 * Builds the spec of an agent. On failure returns -errno with a sentence
 * in err: -ENOENT (program or script missing), -EACCES (outside the
 * parent's view), -EINVAL (a path with . or .. components), -ENOMEM,
 * -ENOTSUP (this host cannot sandbox).
 */
int sandbox_spec_new(const struct sandbox_context *ctx,
		     const struct sandbox_request *req,
		     struct sandbox_spec **ret, char *err, size_t errlen);
void sandbox_spec_free(struct sandbox_spec *s);

/* Before each start of s's agent: takes ownership of status_wr (the
 * status pipe's write end) and takes a ready network namespace if the
 * agent has no network. */
void sandbox_spec_arm(struct sandbox_spec *s, int status_wr);
/* After the start, whether it worked or not: closes what arm() took (the
 * child has its own copies). */
void sandbox_spec_disarm(struct sandbox_spec *s);

/* A join spec for running a command in the sandbox of agent (whose init
 * has pidfd): a shallow copy that borrows agent's strings. */
void sandbox_spec_join(const struct sandbox_spec *agent, int pidfd,
		       struct sandbox_spec *ret);

/* Extra clone3 flags for spec (new namespaces in create mode, none in join
 * mode). proc_spawn never uses CLONE_VFORK with a sandbox: PID 1 does not
 * exec. */
uint64_t sandbox_clone_flags(const struct sandbox_spec *s);

/* The isolation description SPAWN and LIST report: only what is in
 * force. New reference, or NULL on ENOMEM. */
json_t *sandbox_isolation_json(const struct sandbox_spec *s);
/* Why Landlock is not part of s, or NULL when it is. */
const char *sandbox_landlock_reason(const struct sandbox_spec *s);

/* --- child side: async-signal-safe only --- */

/* Right after clone3: namespaces and the new root (create mode), or setns
 * into the agent's (join mode). */
int sandbox_child_enter(const struct sandbox_spec *s, struct sandbox_fail *f);

/* What the sandboxed process does last, never returning: exec when err is
 * 0, else report err at f and exit. */
typedef void (*sandbox_exec_fn)(void *arg, int err,
				const struct sandbox_fail *f);

/*
 * After fds and cwd are in place: rlimits, capabilities, no_new_privs and
 * seccomp, then vfork. The child applies Landlock and calls exec (which
 * must not return); the parent waits for its exec, closes report_fd and
 * becomes PID 1 (create mode) or the command's waiter (join mode), never
 * returning. Returns -errno with f set only when a step before the fork
 * failed.
 */
int sandbox_child_finish(const struct sandbox_spec *s, int report_fd,
			 sandbox_exec_fn exec, void *arg,
			 struct sandbox_fail *f);

/* --- the agent's real exit status --- */

/*
 * After PID 1 has been reaped: reads the status it reported for the agent
 * (fd is the non-blocking read end of status_fd's pipe). Returns 0 and the
 * agent's exit code (or -1) and signal (or 0); -ENOENT when PID 1 left no
 * report (it was killed itself: its own status is the agent's).
 */
int sandbox_status_read(int fd, int *ret_code, int *ret_signal);
