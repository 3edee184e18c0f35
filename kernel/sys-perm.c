/* SPDX-License-Identifier: MIT */
/*
 * GET_PERMS (0x40) and SET_PERMS (0x41): read and replace an agent's
 * permission policy (docs/permissions.md). Who may read or set whose is
 * perm_check_perms_target(); what a new policy may allow is
 * perm_set_policy(): never more than the setter's own rights.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "agent.h"
#include "caller.h"
#include "dispatch.h"
#include "jsonreq.h"
#include "kernel.h"
#include "macro.h"
#include "perm-policy.h"
#include "perm.h"
#include "proto.h"
#include "request.h"

/* {agent_id, role, level, permissions, work_dir} of policy p. */
static json_t *perms_json(struct kernel *k, const struct caller *c,
			  const struct agent *a, const struct perm_policy *p)
{
	char work[PATH_MAX];
	int has_work = 0;

	if (a)
		has_work = perm_agent_work_dir(k, a, work, sizeof(work));
	return json_pack("{s:b, s:o, s:s, s:s, s:o, s:o}", "success", 1,
			 "agent_id",
			 a ? json_integer(agent_id(a)) : json_null(), "role",
			 a ? "agent" : "operator", "level",
			 perm_level_name(perm_policy_level(p)), "permissions",
			 perm_policy_to_json(p), "work_dir",
			 has_work > 0 ? json_string(work) : json_null());
}

/* The agent named by "agent_id", or the caller's own (NULL for an
 * operator). Replies itself and returns -errno on failure. */
static int pick_target(struct request *req, json_t *args, bool required,
		       struct agent **ret)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	struct jr_err err;
	int64_t id = 0;

	if (jr_int(args, "agent_id", false, 1, UINT32_MAX, &id, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return -EINVAL;
	}
	if (!id && c->role == ROLE_AGENT)
		id = c->id;
	if (!id && required) {
		request_reply_error(
			req, -EINVAL,
			"field 'agent_id' is required for operators");
		return -EINVAL;
	}
	*ret = NULL;
	if (!id)
		return 0;
	*ret = agents_find_id(k->agents, (uint32_t)id);
	if (!*ret) {
		request_reply_error(req, -ENOENT, "no agent with id %lld",
				    (long long)id);
		return -ENOENT;
	}
	if (perm_check_perms_target(k, c, *ret) < 0) {
		dispatch_reply_denied(
			req,
			"%s of agent %lld refused: only operators, the agent "
			"itself and its ancestors may %s its permissions",
			req->opcode == OP_SET_PERMS ? "SET_PERMS" : "GET_PERMS",
			(long long)id,
			req->opcode == OP_SET_PERMS ? "set" : "read");
		return -EACCES;
	}
	return 0;
}

void sys_get_perms(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	const struct perm_policy *p;
	struct agent *a;

	if (pick_target(req, args, false, &a) < 0)
		return;
	if (a)
		p = agent_policy(a);
	else if (perm_caller_policy(k, c, &p) < 0)
		p = NULL;
	if (!p) {
		request_reply_error(req, -ENOENT, "no policy to show");
		return;
	}
	json_t *reply = perms_json(k, c, a, p);
	if (!reply) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	request_reply_json(req, reply);
}

/* The new policy's JSON: "permissions" (a level or an object) or "level". */
static json_t *new_policy_field(struct request *req, json_t *args)
{
	json_t *perms = json_object_get(args, "permissions");
	json_t *level = json_object_get(args, "level");

	if (json_is_null(perms))
		perms = NULL;
	if (json_is_null(level))
		level = NULL;
	if (!perms == !level) {
		request_reply_error(req, -EINVAL,
				    "give exactly one of 'permissions' or "
				    "'level'");
		return NULL;
	}
	if (level && !json_is_string(level)) {
		request_reply_error(req, -EINVAL,
				    "field 'level' must be a level name");
		return NULL;
	}
	return perms ? perms : level;
}

void sys_set_perms(struct request *req, json_t *args)
{
	_cleanup_(perm_policy_freep) struct perm_policy *p = NULL;
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	struct perm_why why;
	struct agent *a;
	json_t *value;
	int r;

	value = new_policy_field(req, args);
	if (!value || pick_target(req, args, true, &a) < 0)
		return;
	r = perm_set_policy(k, c, a, value, &p, &why);
	if (r == -EACCES) {
		dispatch_reply_denied(req, "SET_PERMS of agent %u refused: %s",
				      agent_id(a), why.msg);
		return;
	}
	if (r < 0) {
		request_reply_error(req, r, "%s",
				    r == -ENOMEM ? "out of memory" : why.msg);
		return;
	}
	agent_set_policy(a, take_ptr(p));
	json_t *reply = perms_json(k, c, a, agent_policy(a));
	if (!reply) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	request_reply_json(req, reply);
}
