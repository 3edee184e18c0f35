/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's spine: the kernel-wide context (probed once), an agent's
 * spec (its view is planned in sandbox-plan.c), the clone3 flags, the
 * child's entry into its namespaces (uid/gid maps when not root, the new
 * root from sandbox-mount.c, the hostname — or setns into an agent's
 * namespaces for EXEC), the lockdown every sandboxed process gets before it
 * runs foreign code (rlimits, securebits, all capability sets emptied,
 * no_new_privs, seccomp), and the isolation report, which names only what
 * is in force.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-internal.h"

static const char *const step_names[SANDBOX_STEP_MAX - SANDBOX_STEP_BASE] = {
	[SANDBOX_STEP_DUMPABLE - SANDBOX_STEP_BASE] = "set_dumpable",
	[SANDBOX_STEP_USERNS - SANDBOX_STEP_BASE] = "uid_map",
	[SANDBOX_STEP_PRIVATE - SANDBOX_STEP_BASE] = "make_private",
	[SANDBOX_STEP_ROOT - SANDBOX_STEP_BASE] = "root_tmpfs",
	[SANDBOX_STEP_MKDIR - SANDBOX_STEP_BASE] = "mkdir",
	[SANDBOX_STEP_BIND - SANDBOX_STEP_BASE] = "bind",
	[SANDBOX_STEP_READONLY - SANDBOX_STEP_BASE] = "remount_readonly",
	[SANDBOX_STEP_SYMLINK - SANDBOX_STEP_BASE] = "symlink",
	[SANDBOX_STEP_TMPFS - SANDBOX_STEP_BASE] = "tmpfs",
	[SANDBOX_STEP_PROC - SANDBOX_STEP_BASE] = "mount_proc",
	[SANDBOX_STEP_MASK - SANDBOX_STEP_BASE] = "mask",
	[SANDBOX_STEP_FILE - SANDBOX_STEP_BASE] = "write_file",
	[SANDBOX_STEP_PIVOT - SANDBOX_STEP_BASE] = "pivot_root",
	[SANDBOX_STEP_HOSTNAME - SANDBOX_STEP_BASE] = "sethostname",
	[SANDBOX_STEP_SETNS - SANDBOX_STEP_BASE] = "setns",
	[SANDBOX_STEP_CGROUPNS - SANDBOX_STEP_BASE] = "cgroup_namespace",
	[SANDBOX_STEP_RLIMIT - SANDBOX_STEP_BASE] = "setrlimit",
	[SANDBOX_STEP_CAPS - SANDBOX_STEP_BASE] = "drop_capabilities",
	[SANDBOX_STEP_NO_NEW_PRIVS - SANDBOX_STEP_BASE] = "no_new_privs",
	[SANDBOX_STEP_SECCOMP - SANDBOX_STEP_BASE] = "seccomp",
	[SANDBOX_STEP_LANDLOCK - SANDBOX_STEP_BASE] = "landlock",
	[SANDBOX_STEP_SIGNALS - SANDBOX_STEP_BASE] = "signals",
	[SANDBOX_STEP_FORK - SANDBOX_STEP_BASE] = "fork",
};

const char *sandbox_step_name(int step)
{
	if (step < SANDBOX_STEP_BASE || step >= SANDBOX_STEP_MAX)
		return NULL;
	return step_names[step - SANDBOX_STEP_BASE];
}

char *sandbox_own(char ***strings, size_t *n, char *s)
{
	char **v;

	if (!s)
		return NULL;
	v = realloc(*strings, (*n + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return NULL;
	}
	v[(*n)++] = s;
	*strings = v;
	return s;
}

static int mount_cmp(const void *a, const void *b)
{
	const struct sandbox_mount *x = a, *y = b;

	return strcmp(x->dst, y->dst);
}

void sandbox_mounts_sort(struct sandbox_mount *m, size_t n)
{
	qsort(m, n, sizeof(*m), mount_cmp);
}

/* --- the context --- */

static int read_cap_last(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n > 0 && atoi(buf) >= CAP_LAST_CAP)
		return atoi(buf);
	return CAP_LAST_CAP;
}

static void strings_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void sandbox_context_free(struct sandbox_context *c)
{
	if (!c)
		return;
	sandbox_netns_pool_free(c->netns_pool);
	free(c->error);
	free(c->state_dir);
	free(c->root_dir);
	free(c->filter);
	free(c->system);
	strings_free(c->strings, c->nstrings);
	free(c);
}

static int context_error(struct sandbox_context *c, const char *what)
{
	c->error = strdup(what);
	return c->error ? 0 : -ENOMEM;
}

int sandbox_context_new(const char *state_dir, struct sandbox_context **ret)
{
	struct sandbox_context *c = calloc(1, sizeof(*c));
	char err[256] = "";
	int r;

	if (!c)
		return -ENOMEM;
	c->uid = geteuid();
	c->gid = getegid();
	c->userns = c->uid != 0;
	c->cap_last = read_cap_last();
	c->landlock_abi = sandbox_landlock_probe(c->landlock_reason,
						 sizeof(c->landlock_reason));
	c->state_dir = strdup(state_dir);
	if (!c->state_dir ||
	    asprintf(&c->root_dir, "%s/sandbox-root", state_dir) < 0) {
		c->root_dir = NULL;
		sandbox_context_free(c);
		return -ENOMEM;
	}
	r = sandbox_mount_system(c);
	if (r < 0) {
		sandbox_context_free(c);
		return r;
	}
	if (mkdir(c->root_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, sizeof(err), "cannot create %s: %s", c->root_dir,
			 strerror(errno));
		r = context_error(c, err);
	} else if (sandbox_seccomp_build(c, err, sizeof(err)) < 0) {
		r = context_error(c, err);
	}
	if (r < 0) {
		sandbox_context_free(c);
		return r;
	}
	/* Without it every child makes its own network namespace. */
	if (!c->error && !c->userns)
		(void)sandbox_netns_pool_new(&c->netns_pool);
	*ret = c;
	return 0;
}

const char *sandbox_context_error(const struct sandbox_context *c)
{
	return c ? c->error : "the sandbox is not set up";
}

int sandbox_landlock_abi(const struct sandbox_context *c)
{
	return c ? c->landlock_abi : 0;
}

/* --- specs --- */

void sandbox_spec_free(struct sandbox_spec *s)
{
	if (!s)
		return;
	sandbox_spec_disarm(s);
	free(s->mounts);
	strings_free(s->strings, s->nstrings);
	free(s);
}

int sandbox_spec_new(const struct sandbox_context *ctx,
		     const struct sandbox_request *req,
		     struct sandbox_spec **ret, char *err, size_t errlen)
{
	struct sandbox_spec *s;
	int r;

	err[0] = '\0';
	if (!ctx || ctx->error) {
		snprintf(err, errlen, "this host cannot sandbox agents: %s",
			 sandbox_context_error(ctx));
		return -ENOTSUP;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*s = (struct sandbox_spec){
		.ctx = ctx,
		.join_pidfd = -1,
		.userns = ctx->userns,
		.network = req->network,
		.tmp_size = req->tmp_size,
		.status_fd = -1,
		.netns_fd = -1,
	};
	s->hostname =
		sandbox_own(&s->strings, &s->nstrings, strdup(req->hostname));
	s->work_dir =
		sandbox_own(&s->strings, &s->nstrings, strdup(req->work_dir));
	if (!s->hostname || !s->work_dir) {
		snprintf(err, errlen, "out of memory");
		sandbox_spec_free(s);
		return -ENOMEM;
	}
	r = sandbox_plan_build(s, req, err, errlen);
	if (r < 0) {
		sandbox_spec_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void sandbox_spec_join(const struct sandbox_spec *agent, int pidfd,
		       struct sandbox_spec *ret)
{
	*ret = *agent;
	ret->join_pidfd = pidfd;
	ret->status_fd = -1;
	ret->netns_fd = -1;
	ret->strings = NULL;
	ret->nstrings = 0;
}

/* The agent's namespaces (what setns joins for EXEC). */
static uint64_t ns_flags(const struct sandbox_spec *s)
{
	uint64_t f = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
		     CLONE_NEWCGROUP;

	if (s->userns)
		f |= CLONE_NEWUSER;
	if (!s->network)
		f |= CLONE_NEWNET;
	return f;
}

uint64_t sandbox_clone_flags(const struct sandbox_spec *s)
{
	if (s->join_pidfd >= 0)
		return 0;
	/* A ready network namespace is entered instead, and the cgroup
	 * namespace is made once the child is in its cgroups (child_enter). */
	return ns_flags(s) & ~((s->netns_fd >= 0 ? (uint64_t)CLONE_NEWNET : 0) |
			       (uint64_t)CLONE_NEWCGROUP);
}

void sandbox_spec_arm(struct sandbox_spec *s, int status_wr)
{
	sandbox_spec_disarm(s);
	s->status_fd = status_wr;
	if (!s->network) {
		int fd = sandbox_netns_take(s->ctx->netns_pool);
		s->netns_fd = fd >= 0 ? fd : -1;
	}
}

void sandbox_spec_disarm(struct sandbox_spec *s)
{
	if (s->status_fd >= 0)
		close(s->status_fd);
	if (s->netns_fd >= 0)
		close(s->netns_fd);
	s->status_fd = -1;
	s->netns_fd = -1;
}

json_t *sandbox_isolation_json(const struct sandbox_spec *s)
{
	json_t *ns = json_array(), *ll;

	if (!ns)
		return NULL;
	if (s->userns)
		json_array_append_new(ns, json_string("user"));
	for (const char *const *n =
		     (const char *const[]){ "pid", "mount", "uts", "ipc",
					    "cgroup", NULL };
	     *n; n++)
		json_array_append_new(ns, json_string(*n));
	if (!s->network)
		json_array_append_new(ns, json_string("net"));
	if (s->ctx->landlock_abi > 0)
		ll = json_pack("{s:i, s:b}", "abi", s->ctx->landlock_abi,
			       "enforced", 1);
	else
		ll = json_false();
	/* One key and its value per line. */
	/* clang-format off */
	return json_pack(
		"{s:b, s:o, s:b, s:o, s:b, s:[], s:s, s:s, s:I}",
		"sandboxed", 1,
		"namespaces", ns,
		"seccomp", 1,
		"landlock", ll,
		"no_new_privs", 1,
		"capabilities",
		"root", "pivot_root tmpfs",
		"network", s->network ? "host" : "none",
		"tmp_size", (json_int_t)s->tmp_size);
	/* clang-format on */
}

const char *sandbox_landlock_reason(const struct sandbox_spec *s)
{
	return s->ctx->landlock_abi > 0 ? NULL : s->ctx->landlock_reason;
}

/* --- child side --- */

static int write_all(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);
	int r = 0;

	if (fd < 0)
		return negative_errno();
	if (write(fd, text, len) != (ssize_t)len)
		r = errno ? negative_errno() : -EIO;
	close(fd);
	return r;
}

/* "<id> <id> 1": the same ids inside as outside, nothing else mapped. */
static void id_map_line(char buf[32], unsigned id)
{
	char digits[12];
	int n = 0, o = 0;

	do
		digits[n++] = (char)('0' + id % 10);
	while ((id /= 10) > 0 && n < 11);
	for (int rep = 0; rep < 2; rep++) {
		for (int i = n - 1; i >= 0; i--)
			buf[o++] = digits[i];
		buf[o++] = ' ';
	}
	buf[o++] = '1';
	buf[o++] = '\n';
	buf[o] = '\0';
}

static int map_ids(const struct sandbox_spec *s, struct sandbox_fail *f)
{
	char line[32];
	int r;

	f->step = SANDBOX_STEP_USERNS;
	f->path = "/proc/self/setgroups";
	r = write_all(f->path, "deny");
	if (r < 0)
		return r;
	id_map_line(line, (unsigned)s->ctx->uid);
	f->path = "/proc/self/uid_map";
	r = write_all(f->path, line);
	if (r < 0)
		return r;
	id_map_line(line, (unsigned)s->ctx->gid);
	f->path = "/proc/self/gid_map";
	return write_all(f->path, line);
}

static int fail(struct sandbox_fail *f, int step, const char *path)
{
	f->step = step;
	f->path = path;
	return negative_errno();
}

int sandbox_child_enter(const struct sandbox_spec *s, struct sandbox_fail *f)
{
	int r;

	if (s->join_pidfd >= 0) {
		if (setns(s->join_pidfd, (int)ns_flags(s)) < 0)
			return fail(f, SANDBOX_STEP_SETNS, NULL);
	} else {
		if (s->userns) {
			r = map_ids(s, f);
			if (r < 0)
				return r;
		}
		if (s->netns_fd >= 0 && setns(s->netns_fd, CLONE_NEWNET) < 0)
			return fail(f, SANDBOX_STEP_SETNS, NULL);
		/* proc.c has put the child in the agent's cgroups (v2 at
		 * clone3, v1 and restarts through cgroup.procs): the new cgroup
		 * namespace is rooted there in every hierarchy. */
		if (unshare(CLONE_NEWCGROUP) < 0)
			return fail(f, SANDBOX_STEP_CGROUPNS, NULL);
		r = sandbox_mount_root(s, f);
		if (r < 0)
			return r;
		if (sethostname(s->hostname, strlen(s->hostname)) < 0)
			return fail(f, SANDBOX_STEP_HOSTNAME, NULL);
	}
	/* The agent runs with this process's uid: without this it could
	 * open /proc/1/fd of its PID 1, or ptrace it were that allowed. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(f, SANDBOX_STEP_DUMPABLE, NULL);
	return 0;
}

static int limit(int resource, rlim_t max)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) < 0)
		return negative_errno();
	if (rl.rlim_max > max)
		rl.rlim_max = max;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(resource, &rl) < 0 ? negative_errno() : 0;
}

static int drop_caps(const struct sandbox_spec *s)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { 0 };

	/* uid 0 must not get capabilities back through execve. */
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			  SECBIT_NO_SETUID_FIXUP |
			  SECBIT_NO_SETUID_FIXUP_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED,
		  0, 0, 0) < 0)
		return negative_errno();
	for (int cap = 0; cap <= s->ctx->cap_last; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return negative_errno();
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return negative_errno();
	if (syscall(SYS_capset, &hdr, data) < 0)
		return negative_errno();
	return 0;
}

int sandbox_lockdown(const struct sandbox_spec *s, struct sandbox_fail *f)
{
	int r;

	f->path = NULL;
	f->step = SANDBOX_STEP_RLIMIT;
	r = limit(RLIMIT_CORE, 0);
	if (r == 0)
		r = limit(RLIMIT_NOFILE, SANDBOX_NOFILE);
	if (r < 0)
		return r;
	f->step = SANDBOX_STEP_CAPS;
	r = drop_caps(s);
	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(f, SANDBOX_STEP_NO_NEW_PRIVS, NULL);
	f->step = SANDBOX_STEP_SECCOMP;
	return sandbox_seccomp_apply(s->ctx);
}
