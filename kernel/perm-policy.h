/* SPDX-License-Identifier: MIT */
/*
 * Permission policies: what one caller may do. A policy is a set of
 * capabilities (can_exec, can_read, ...), path patterns for READ and WRITE
 * plus a blocked list that always wins, the programs EXEC may run, the
 * domains and methods HTTP may use, and LLM quotas. It is built from a
 * level name ("standard") or from a JSON object that may start from a
 * level and override fields. docs/permissions.md is the reference.
 *
 * Patterns are canonicalized when the policy is built (perm-glob.h), so
 * comparisons between policies are made on canonical text.
 * perm_policy_within() is the "never exceeds" rule that SPAWN and
 * SET_PERMS apply: everything a child policy allows, its parent's allows.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum perm_level {
	PERM_LEVEL_UNRESTRICTED,
	PERM_LEVEL_STANDARD,
	PERM_LEVEL_SANDBOXED,
	PERM_LEVEL_READONLY,
	PERM_LEVEL_MINIMAL,
	PERM_LEVEL_CUSTOM,
};

/* Whom an agent may SEND or BROADCAST to (operators always): nobody
 * else, its own agent tree, or any agent. Ordered: each allows more. */
enum perm_messaging {
	PERM_MSG_NONE,
	PERM_MSG_TREE,
	PERM_MSG_ANY,
};

/* Entries per list a client may give. */
#define PERM_MAX_ENTRIES 64
/* No LLM limit. */
#define PERM_UNLIMITED (-1)

struct perm_list {
	char **v;
	size_t n;
};

struct perm_policy {
	bool can_exec, can_read, can_write, can_think, can_spawn, can_http;
	enum perm_messaging messaging;
	/* filesystem.no_symlinks: READ/WRITE follow no symlink at all. */
	bool no_symlinks;
	/* filesystem.read / write / blocked: path patterns. */
	struct perm_list read, write, blocked;
	/* Program patterns, matched against the program's canonical path. */
	struct perm_list exec;
	/* Domains ("api.github.com", "*.example.com", "*"); HTTP methods
	 * (upper case, or "*"). Stored for the HTTP syscall. */
	struct perm_list network, http_methods;
	/* llm.max_tokens / llm.max_calls, or PERM_UNLIMITED. Stored for
	 * THINK. */
	int64_t max_tokens, max_calls;
	/* llm.max_cost_usd (tokens priced by the kernel's llm_price_per_1k),
	 * or PERM_UNLIMITED. */
	double max_cost_usd;
};

/* Why a policy was refused or a check failed; names the field. */
struct perm_why {
	char msg[512];
};

const char *perm_level_name(enum perm_level level);
/* "none", "tree", "any". */
const char *perm_messaging_name(enum perm_messaging m);
/* The level of that name, or -EINVAL. */
int perm_level_from_name(const char *name);

/* The policy of a level. -ENOMEM. */
int perm_policy_new_level(enum perm_level level, struct perm_policy **ret);
/*
 * From JSON: a level name, or an object with an optional "level" to start
 * from (without one, every capability is off, every list empty and the
 * LLM unlimited) and fields that replace the level's. Unknown fields,
 * wrong types, bad patterns: -EINVAL with the field named in why.
 */
int perm_policy_from_json(json_t *v, struct perm_policy **ret,
			  struct perm_why *why);
/* The full policy as JSON (every field), NULL on ENOMEM. */
json_t *perm_policy_to_json(const struct perm_policy *p);
int perm_policy_copy(const struct perm_policy *p, struct perm_policy **ret);
void perm_policy_free(struct perm_policy *p);
void perm_policy_freep(struct perm_policy **p);
bool perm_policy_equal(const struct perm_policy *a,
		       const struct perm_policy *b);
/* The level p is exactly, else PERM_LEVEL_CUSTOM. */
enum perm_level perm_policy_level(const struct perm_policy *p);
/* True if p allows everything the unrestricted level does. */
bool perm_policy_is_unrestricted(const struct perm_policy *p);

/*
 * Gives child the restrictions of parent it lacks: parent's blocked
 * patterns, no_symlinks, and LLM limits where the child has none. Applied
 * before perm_policy_within() so a child never silently sheds them.
 * -ENOMEM.
 */
int perm_policy_inherit(struct perm_policy *child,
			const struct perm_policy *parent);

/*
 * 0 if child allows nothing parent does not: each capability, each path
 * pattern (covered by one of the parent's, which also has its own work
 * directory parent_work_dir, NULL for none), blocked (the child blocks at
 * least what the parent blocks), no_symlinks, programs, domains, methods
 * and LLM limits. Else -EACCES, and why names the first field that
 * exceeds, with whose ("the parent's", "your own") in the text.
 */
int perm_policy_within(const struct perm_policy *child,
		       const struct perm_policy *parent,
		       const char *parent_work_dir, const char *whose,
		       struct perm_why *why);

/* True if l holds exactly the entry s (canonical text). */
bool perm_list_contains(const struct perm_list *l, const char *s);

/* True if pattern (a program pattern list entry) allows every program:
 * the list then needs no program lookup. */
bool perm_list_allows_all(const struct perm_list *l);
