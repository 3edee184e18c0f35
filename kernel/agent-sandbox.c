/* SPDX-License-Identifier: MIT */
/*
 * An agent's sandbox, from the agent module's side: what a sandboxed
 * agent's children may get (no network their parent lacks, code only from
 * their parent's own view — unless the parent's policy is unrestricted, as
 * the permission system decides who may start unsandboxed agents), the
 * sandbox spec built at the first start and kept for restarts, the status
 * pipe of every start, and the "isolation" object SPAWN and LIST report,
 * which names only what is in force and says why anything else is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent-internal.h"
#include "kernel.h"
#include "macro.h"
#include "perm-policy.h"
#include "sandbox.h"

#define REASON_CGROUP                                                  \
	"no cgroup: the host offers this kernel none, so no limit is " \
	"enforced"
#define REASON_UNSANDBOXED                                                \
	"sandboxed: false was requested: the agent runs in the kernel's " \
	"namespaces, with its uid and capabilities, without seccomp"

const struct sandbox_spec *agent_sandbox_for_children(const struct agent *a)
{
	if (!a || !a->sandbox || perm_policy_is_unrestricted(agent_policy(a)))
		return NULL;
	return a->sandbox;
}

/* The view a's parent may hand down, or NULL when it is not limited. */
static const struct sandbox_spec *parent_sandbox(const struct agent *a)
{
	struct agent *p =
		a->parent_id ? agents_find_id(a->table, a->parent_id) : NULL;

	return agent_sandbox_for_children(p);
}

/* Least privilege, never upward: a sandboxed agent's child gets the
 * network only if its parent has it. (Whether it may be unsandboxed is the
 * permission system's call: only for unrestricted parents.) */
static int check_child(const struct agent *a, const struct sandbox_spec *ps,
		       char *err, size_t errlen)
{
	if (a->spec.network && !ps->network) {
		snprintf(err, errlen,
			 "an agent without network access cannot start one "
			 "with network: true");
		return -EACCES;
	}
	return 0;
}

static int build_spec(struct agent *a, const struct sandbox_spec *ps, char *err,
		      size_t errlen)
{
	int64_t tmp = a->spec.limits.tmp_size;
	struct sandbox_request req = {
		.program = a->python,
		.script = a->script,
		.work_dir = a->work_dir,
		.hostname = a->name,
		.network = a->spec.network,
		.tmp_size = tmp > 0 ? (uint64_t)tmp : SANDBOX_TMP_SIZE_DEFAULT,
		.discover = true,
		.parent = ps,
	};

	return sandbox_spec_new(a->k->sandbox, &req, &a->sandbox, err, errlen);
}

int agent_sandbox_prepare(struct agent *a, char *err, size_t errlen)
{
	bool first = a->started_ms == 0;
	const struct sandbox_spec *ps = first ? parent_sandbox(a) : NULL;
	int fds[2], r;

	if (ps) {
		r = check_child(a, ps, err, errlen);
		if (r < 0)
			return r;
	}
	if (!a->spec.sandboxed)
		return 0;
	if (!a->sandbox) {
		r = build_spec(a, ps, err, errlen);
		if (r < 0)
			return r;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = negative_errno();
		snprintf(err, errlen, "status pipe: %s", strerror(-r));
		return r;
	}
	if (a->status_fd >= 0)
		close(a->status_fd);
	a->status_fd = fds[0];
	sandbox_spec_arm(a->sandbox, fds[1]);
	return 0;
}

void agent_sandbox_started(struct agent *a)
{
	if (a->sandbox)
		sandbox_spec_disarm(a->sandbox);
}

static json_t *unsandboxed_json(void)
{
	/* clang-format off */
	return json_pack("{s:b, s:[], s:b, s:b, s:b, s:s, s:s}",
			 "sandboxed", 0,
			 "namespaces",
			 "seccomp", 0,
			 "landlock", 0,
			 "no_new_privs", 0,
			 "root", "host",
			 "network", "host");
	/* clang-format on */
}

json_t *agent_isolation_json(const struct agent *a)
{
	const char *landlock =
		a->sandbox ? sandbox_landlock_reason(a->sandbox) : NULL;
	json_t *iso = a->sandbox ? sandbox_isolation_json(a->sandbox)
				 : unsandboxed_json();
	json_t *cgroup = agent_cgroup_json(a);
	char reason[512];
	int n = 0;

	if (!iso || !cgroup || json_object_set_new(iso, "cgroup", cgroup) < 0) {
		json_decref(iso);
		return NULL;
	}
	/* What is not in force, and why (the cgroup object says why for
	 * each limit it could not enforce). */
	reason[0] = '\0';
	if (!a->sandbox)
		n += snprintf(reason + n, sizeof(reason) - (size_t)n, "%s",
			      REASON_UNSANDBOXED);
	if (landlock)
		n += snprintf(reason + n, sizeof(reason) - (size_t)n,
			      "%sLandlock is not enforced: %s", n ? "; " : "",
			      landlock);
	if (json_is_null(cgroup))
		snprintf(reason + n, sizeof(reason) - (size_t)n, "%s%s",
			 n ? "; " : "", REASON_CGROUP);
	if (reason[0] &&
	    json_object_set_new(iso, "reason", json_string(reason)) < 0) {
		json_decref(iso);
		return NULL;
	}
	return iso;
}
