/* SPDX-License-Identifier: MIT */
/*
 * The one permission seam every syscall passes. perm_check() runs in the
 * dispatcher before every handler and decides by opcode which capability
 * of the caller's policy the call needs (the table is in perm.c and in
 * docs/permissions.md). What depends on a request's details is decided
 * here too, called by the handlers once they have parsed the request:
 * which paths (perm-path.h), which programs (perm-exec.h), which agents a
 * caller may act on, and the policy a SPAWN or SET_PERMS may give.
 *
 * Every agent carries its own policy on its record; operators share the
 * kernel's operator policy (unrestricted unless cloved is configured with
 * --operator-permissions). Denials are -EACCES with the reason in a
 * perm_why; the dispatcher logs and answers them (dispatch_reply_denied).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct caller;
struct kernel;
struct agent;
struct perm_policy;
struct perm_why;

/* 0, or -EACCES with a reason in why. */
int perm_check(struct kernel *k, const struct caller *c, uint8_t opcode,
	       json_t *args, char *why, size_t whylen);

/* 0 if c may KILL/PAUSE/RESUME target (operators; the agent itself; its
 * ancestors), else -EACCES. */
int perm_check_agent_target(struct kernel *k, const struct caller *c,
			    const struct agent *target);

/* 0 if c may read (GET_PERMS) or set (SET_PERMS) target's permissions:
 * operators, the agent itself, its ancestors. Else -EACCES. */
int perm_check_perms_target(struct kernel *k, const struct caller *c,
			    const struct agent *target);

/* Whether LIST shows c every agent (operators, unrestricted agents); the
 * others see only the agents perm_check_agent_target() lets them act on:
 * themselves and their descendants. */
bool perm_sees_all_agents(struct kernel *k, const struct caller *c);

/* The policy c acts under (borrowed), or -EACCES for an agent caller whose
 * record is gone. */
int perm_caller_policy(struct kernel *k, const struct caller *c,
		       const struct perm_policy **ret);

/* The canonical work directory of c: 1 for agents, 0 for operators (buf
 * then ""), -ENAMETOOLONG. */
int perm_work_dir(struct kernel *k, const struct caller *c, char *buf,
		  size_t len);

/* The same for agent a. */
int perm_agent_work_dir(struct kernel *k, const struct agent *a, char *buf,
			size_t len);

/*
 * SPAWN: the child's policy. permissions is the request's field (a level
 * name or an object; NULL: the parent agent's own policy, or standard for
 * operators — their own when standard exceeds it). The child inherits the
 * parent's blocked paths, no_symlinks and LLM limits, and may not exceed
 * the parent's rights. sandboxed false needs an unrestricted caller. The
 * interpreter python (looked up in path_env) must be a program the caller
 * may run. 0 with *ret (owned by the caller); -EINVAL (bad permissions)
 * or -EACCES, with why.
 */
int perm_spawn_policy(struct kernel *k, const struct caller *c,
		      json_t *permissions, bool sandboxed, const char *python,
		      const char *path_env, struct perm_policy **ret,
		      struct perm_why *why);

/*
 * SET_PERMS: target's new policy from value (a level name or an object),
 * which must be within c's own rights (an agent setting its own may only
 * lower them). The caller has passed perm_check_perms_target(). 0 with
 * *ret (owned by the caller); -EINVAL or -EACCES with why.
 */
int perm_set_policy(struct kernel *k, const struct caller *c,
		    const struct agent *target, json_t *value,
		    struct perm_policy **ret, struct perm_why *why);

/* The operators' policy from cloved's --operator-permissions: "" is
 * unrestricted, else a level name or a JSON policy object. -EINVAL with
 * why. */
int perm_operator_policy_new(const char *text, struct perm_policy **ret,
			     struct perm_why *why);
