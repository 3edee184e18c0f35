/* SPDX-License-Identifier: MIT */
/*
 * The hub's reachability rule (policy.h). Trees are compared by root id,
 * which every agent record keeps from its spawn, so the rule still holds
 * after intermediate agents have ended.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>

#include "agent.h"
#include "caller.h"
#include "kernel.h"
#include "perm-policy.h"
#include "perm.h"

uint32_t policy_root_id(const struct agent *a)
{
	return agent_root_id(a);
}

bool policy_same_tree(const struct agent *a, const struct agent *b)
{
	return a && b && agent_root_id(a) == agent_root_id(b);
}

struct agent *policy_caller_agent(struct kernel *k, const struct caller *c)
{
	if (c->role != ROLE_AGENT)
		return NULL;
	return c->agent ? c->agent : agents_find_id(k->agents, c->id);
}

int policy_may_message(struct kernel *k, const struct caller *from,
		       const struct agent *to, uint32_t to_id, char *why,
		       size_t whylen)
{
	const struct perm_policy *p;
	const struct agent *me;

	if (from->role == ROLE_OPERATOR)
		return 0;
	/* Operators supervise every agent: any agent may answer one. */
	if (!to)
		return 0;
	me = policy_caller_agent(k, from);
	if (me == to)
		return 0;
	if (perm_caller_policy(k, from, &p) < 0) {
		snprintf(why, whylen, "agent %u has no permission policy",
			 from->id);
		return -EACCES;
	}
	if (p->messaging == PERM_MSG_ANY ||
	    (p->messaging == PERM_MSG_TREE && policy_same_tree(me, to)))
		return 0;
	snprintf(why, whylen,
		 "agent %u may not message agent %u: its policy's messaging is "
		 "\"%s\" (%s)",
		 from->id, to_id, perm_messaging_name(p->messaging),
		 p->messaging == PERM_MSG_NONE
			 ? "operators only"
			 : "its own agent tree: ancestors, descendants, "
			   "siblings");
	return -EACCES;
}

bool policy_is_unrestricted(struct kernel *k, const struct caller *c)
{
	const struct perm_policy *p;

	return perm_caller_policy(k, c, &p) == 0 &&
	       perm_policy_is_unrestricted(p);
}

bool policy_may_see(struct kernel *k, bool sub_operator, uint32_t sub_id,
		    uint32_t source_id, bool source_operator)
{
	const struct agent *me, *src;

	if (sub_operator || source_operator || source_id == 0 ||
	    source_id == sub_id)
		return true;
	me = agents_find_id(k->agents, sub_id);
	src = agents_find_id(k->agents, source_id);
	return policy_same_tree(me, src);
}
