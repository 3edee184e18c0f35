/* SPDX-License-Identifier: MIT */
/*
 * Whom a caller may reach through the hub: send a message to, see the
 * events of. The default rule until the permission system supplies a
 * per-agent policy: operators reach everyone; an agent reaches the agents
 * of its own tree (those sharing its root: ancestors, descendants,
 * siblings) and operators. These functions are the single place the
 * permission system will hook into.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel;
struct caller;
struct agent;

/* The root of a's tree: its oldest ancestor, or a itself. */
uint32_t policy_root_id(const struct agent *a);
/* True when agents a and b share a root. */
bool policy_same_tree(const struct agent *a, const struct agent *b);

/*
 * 0 when from may send to the agent to (NULL: to_id is an operator
 * connection), else -EACCES with a reason in why.
 */
int policy_may_message(struct kernel *k, const struct caller *from,
		       const struct agent *to, uint32_t to_id, char *why,
		       size_t whylen);

/* True when the subscriber (an operator, or agent sub_id) may see an
 * event about source_id. Events of the kernel itself (source 0) and of
 * operators (source_operator) are visible to all. */
bool policy_may_see(struct kernel *k, bool sub_operator, uint32_t sub_id,
		    uint32_t source_id, bool source_operator);

/* True when c holds the unrestricted level (the permission system's
 * kernel-wide powers: recording, replay, the audit configuration). */
bool policy_is_unrestricted(struct kernel *k, const struct caller *c);

/* The agent record of a caller (NULL for operators and gone agents). */
struct agent *policy_caller_agent(struct kernel *k, const struct caller *c);
