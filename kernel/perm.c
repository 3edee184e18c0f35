/* SPDX-License-Identifier: MIT */
/*
 * The permission seam: the per-opcode table perm_check() applies before
 * every handler, the rules about which agents a caller may act on, and the
 * policies SPAWN and SET_PERMS may hand out. Policies themselves live in
 * perm-policy.c, path rules in perm-path.c, programs in perm-exec.c.
 */
#include "perm.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "caller.h"
#include "kernel.h"
#include "macro.h"
#include "path.h"
#include "perm-exec.h"
#include "perm-policy.h"
#include "proto.h"

/* What an opcode needs from the caller's policy. Opcodes without an entry
 * are refused: a new syscall must be given its rule here. */
enum perm_need {
	NEED_NONE_SET,
	/* Always allowed; a handler may still check a target. */
	NEED_NOTHING,
	NEED_READ,
	NEED_WRITE,
	NEED_EXEC,
	NEED_THINK,
	NEED_SPAWN,
	NEED_HTTP,
	/* Kernel-wide powers (recording, audit, world, tunnels). */
	NEED_UNRESTRICTED,
};

/* clang-format off */
static const enum perm_need rules[256] = {
	[OP_NOOP] = NEED_NOTHING,
	[OP_THINK] = NEED_THINK,
	[OP_EXEC] = NEED_EXEC,		/* + exec[] in sys-exec.c */
	[OP_READ] = NEED_READ,		/* + paths in sys-file.c */
	[OP_WRITE] = NEED_WRITE,	/* + paths in sys-file.c */
	[OP_SPAWN] = NEED_SPAWN,	/* + perm_spawn_policy() */
	[OP_KILL] = NEED_NOTHING,	/* + perm_check_agent_target() */
	[OP_LIST] = NEED_NOTHING,	/* filtered: perm_sees_all_agents() */
	[OP_PAUSE] = NEED_NOTHING,	/* + perm_check_agent_target() */
	[OP_RESUME] = NEED_NOTHING,	/* + perm_check_agent_target() */
	[OP_SEND ... OP_REGISTER] = NEED_NOTHING,
	[OP_STORE ... OP_KEYS] = NEED_NOTHING,
	[OP_GET_PERMS] = NEED_NOTHING,	/* + perm_check_perms_target() */
	[OP_SET_PERMS] = NEED_NOTHING,	/* + target and perm_set_policy() */
	[OP_HTTP] = NEED_HTTP,
	[OP_SUBSCRIBE ... OP_EMIT] = NEED_NOTHING,
	[OP_RECORD_START ... OP_SET_AUDIT_CONFIG] = NEED_UNRESTRICTED,
	[OP_ASYNC_POLL] = NEED_NOTHING,
	[0xA0 ... 0xA8] = NEED_UNRESTRICTED,	/* WORLD_* */
	[0xB0 ... 0xB4] = NEED_UNRESTRICTED,	/* TUNNEL_* */
	[OP_METRICS_SYSTEM ... OP_METRICS_CGROUP] = NEED_NOTHING,
	[OP_LLM_REPORT] = NEED_THINK,
	[OP_HELLO] = NEED_NOTHING,
	[OP_EXIT] = NEED_NOTHING,
};
/* clang-format on */

int perm_caller_policy(struct kernel *k, const struct caller *c,
		       const struct perm_policy **ret)
{
	const struct perm_policy *p = NULL;

	if (c->role == ROLE_OPERATOR)
		p = k->operator_policy;
	else if (c->agent)
		p = agent_policy(c->agent);
	if (!p)
		return -EACCES;
	*ret = p;
	return 0;
}

static const char *need_text(enum perm_need need, const struct perm_policy *p,
			     bool *ret_ok)
{
	switch (need) {
	case NEED_NOTHING:
		*ret_ok = true;
		return "";
	case NEED_READ:
		*ret_ok = p->can_read;
		return "can_read";
	case NEED_WRITE:
		*ret_ok = p->can_write;
		return "can_write";
	case NEED_EXEC:
		*ret_ok = p->can_exec;
		return "can_exec";
	case NEED_THINK:
		*ret_ok = p->can_think;
		return "can_think";
	case NEED_SPAWN:
		*ret_ok = p->can_spawn;
		return "can_spawn";
	case NEED_HTTP:
		*ret_ok = p->can_http;
		return "can_http";
	case NEED_UNRESTRICTED:
		*ret_ok = perm_policy_is_unrestricted(p);
		return "the unrestricted level";
	case NEED_NONE_SET:
		break;
	}
	*ret_ok = false;
	return NULL;
}

int perm_check(struct kernel *k, const struct caller *c, uint8_t opcode,
	       json_t *args, char *why, size_t whylen)
{
	const char *name = proto_opcode_name(opcode);
	enum perm_need need = rules[opcode];
	const struct perm_policy *p;
	bool ok;

	if (!name)
		name = "opcode";
	if (need == NEED_NOTHING)
		return 0;
	if (perm_caller_policy(k, c, &p) < 0) {
		snprintf(why, whylen,
			 "%s refused: caller %u has no policy (its agent "
			 "record is gone)",
			 name, c->id);
		return -EACCES;
	}
	const char *cap = need_text(need, p, &ok);
	if (ok)
		return 0;
	if (!cap)
		snprintf(why, whylen, "%s (0x%02x) refused: no permission rule",
			 name, opcode);
	else if (need == NEED_UNRESTRICTED)
		snprintf(why, whylen, "%s refused: it needs %s", name, cap);
	else
		snprintf(why, whylen,
			 "%s refused: the caller's policy has %s false", name,
			 cap);
	return -EACCES;
}

int perm_check_agent_target(struct kernel *k, const struct caller *c,
			    const struct agent *target)
{
	if (c->role == ROLE_OPERATOR)
		return 0;
	if (c->id == agent_id(target))
		return 0;
	if (agents_is_descendant(k->agents, target, c->id))
		return 0;
	return -EACCES;
}

int perm_check_perms_target(struct kernel *k, const struct caller *c,
			    const struct agent *target)
{
	/* The same people: operators, the agent, its ancestors. */
	return perm_check_agent_target(k, c, target);
}

bool perm_sees_all_agents(struct kernel *k, const struct caller *c)
{
	const struct perm_policy *p;

	if (c->role == ROLE_OPERATOR)
		return true;
	return perm_caller_policy(k, c, &p) == 0 &&
	       perm_policy_is_unrestricted(p);
}

int perm_work_dir(struct kernel *k, const struct caller *c, char *buf,
		  size_t len)
{
	char lexical[PATH_MAX], real[PATH_MAX];
	int r = path_work_dir(k, c, lexical, sizeof(lexical));

	if (r <= 0) {
		if (len > 0)
			buf[0] = '\0';
		return r;
	}
	/* The state directory may sit behind a symlink; the work directory
	 * itself is made by the kernel and not the agent's to replace. */
	const char *w = realpath(lexical, real) ? real : lexical;
	if (strlen(w) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, w);
	return 1;
}

int perm_agent_work_dir(struct kernel *k, const struct agent *a, char *buf,
			size_t len)
{
	struct caller as = { .role = ROLE_AGENT, .id = agent_id(a) };

	return perm_work_dir(k, &as, buf, len);
}

static int spawn_default(const struct caller *c,
			 const struct perm_policy *parent,
			 struct perm_policy **ret)
{
	_cleanup_(perm_policy_freep) struct perm_policy *std = NULL;
	struct perm_why why;
	int r;

	if (c->role == ROLE_AGENT)
		return perm_policy_copy(parent, ret);
	r = perm_policy_new_level(PERM_LEVEL_STANDARD, &std);
	if (r < 0)
		return r;
	if (perm_policy_inherit(std, parent) == 0 &&
	    perm_policy_within(std, parent, NULL, "", &why) == 0) {
		*ret = take_ptr(std);
		return 0;
	}
	return perm_policy_copy(parent, ret);
}

/* SPAWN's interpreter is a program the caller makes the kernel run. A
 * missing one is left to the spawn itself, which says ENOENT. */
static int spawn_check_python(const struct perm_policy *parent,
			      const char *python, const char *path_env,
			      struct perm_why *why)
{
	char real[PATH_MAX];
	struct perm_why inner;
	int r = perm_exec_check(parent, python, path_env, NULL, real,
				sizeof(real), &inner);

	if (r == 0 || r == -ENOENT)
		return 0;
	snprintf(why->msg, sizeof(why->msg), "field 'python': %.400s",
		 inner.msg);
	return -EACCES;
}

int perm_spawn_policy(struct kernel *k, const struct caller *c,
		      json_t *permissions, bool sandboxed, const char *python,
		      const char *path_env, struct perm_policy **ret,
		      struct perm_why *why)
{
	_cleanup_(perm_policy_freep) struct perm_policy *child = NULL;
	const struct perm_policy *parent;
	char work[PATH_MAX];
	int r, has_work;

	if (perm_caller_policy(k, c, &parent) < 0) {
		snprintf(why->msg, sizeof(why->msg),
			 "SPAWN refused: the caller has no policy");
		return -EACCES;
	}
	if (!sandboxed && !perm_policy_is_unrestricted(parent)) {
		snprintf(why->msg, sizeof(why->msg),
			 "field 'sandboxed': false refused: only callers "
			 "whose own policy is unrestricted may start an agent "
			 "outside the sandbox");
		return -EACCES;
	}
	if ((r = spawn_check_python(parent, python, path_env, why)) < 0)
		return r;
	has_work = perm_work_dir(k, c, work, sizeof(work));
	if (has_work < 0)
		return has_work;
	if (permissions && !json_is_null(permissions))
		r = perm_policy_from_json(permissions, &child, why);
	else
		r = spawn_default(c, parent, &child);
	if (r < 0)
		return r;
	if ((r = perm_policy_inherit(child, parent)) < 0)
		return r;
	r = perm_policy_within(
		child, parent, has_work ? work : NULL,
		c->role == ROLE_AGENT ? "the parent's" : "the operators'", why);
	if (r < 0)
		return r;
	*ret = take_ptr(child);
	return 0;
}

int perm_set_policy(struct kernel *k, const struct caller *c,
		    const struct agent *target, json_t *value,
		    struct perm_policy **ret, struct perm_why *why)
{
	_cleanup_(perm_policy_freep) struct perm_policy *p = NULL;
	const struct perm_policy *setter;
	char work[PATH_MAX];
	int r, has_work;

	if (perm_caller_policy(k, c, &setter) < 0) {
		snprintf(why->msg, sizeof(why->msg),
			 "SET_PERMS refused: the caller has no policy");
		return -EACCES;
	}
	has_work = perm_work_dir(k, c, work, sizeof(work));
	if (has_work < 0)
		return has_work;
	r = perm_policy_from_json(value, &p, why);
	if (r < 0)
		return r;
	if ((r = perm_policy_inherit(p, setter)) < 0)
		return r;
	r = perm_policy_within(p, setter, has_work ? work : NULL,
			       c->role == ROLE_OPERATOR ? "the operators'"
			       : c->id == agent_id(target)
				       ? "your own (nobody can raise their own "
					 "rights)"
				       : "the caller's",
			       why);
	if (r < 0)
		return r;
	*ret = take_ptr(p);
	return 0;
}

int perm_operator_policy_new(const char *text, struct perm_policy **ret,
			     struct perm_why *why)
{
	json_error_t jerr;
	json_t *v;
	int r;

	if (!text[0]) {
		r = perm_policy_new_level(PERM_LEVEL_UNRESTRICTED, ret);
		if (r < 0)
			snprintf(why->msg, sizeof(why->msg), "out of memory");
		return r;
	}
	if (text[0] == '{')
		v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	else
		v = json_string(text);
	if (!v) {
		snprintf(why->msg, sizeof(why->msg),
			 "operator permissions: malformed JSON: %s", jerr.text);
		return -EINVAL;
	}
	r = perm_policy_from_json(v, ret, why);
	json_decref(v);
	return r;
}
