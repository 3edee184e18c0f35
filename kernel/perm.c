/* SPDX-License-Identifier: MIT */
/*
 * Permission checks. This is the single seam every syscall passes through;
 * the full policy engine (levels, path and exec rules) replaces the body of
 * perm_check without touching any handler.
 */
#include "perm.h"

#include <errno.h>
#include <stdio.h>

#include "agent.h"
#include "caller.h"
#include "kernel.h"

int perm_check(struct kernel *k, const struct caller *c, uint8_t opcode,
	       json_t *args, char *why, size_t whylen)
{
	/* Operators are trusted by the socket's owner and mode; agents are
	 * restricted per target in the agent handlers. */
	(void)k;
	(void)c;
	(void)opcode;
	(void)args;
	(void)why;
	(void)whylen;
	return 0;
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
