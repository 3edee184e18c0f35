/* SPDX-License-Identifier: MIT */
/*
 * "Never exceeds": perm_policy_within() decides that a policy allows
 * nothing another does not, field by field, on canonical text (patterns
 * with perm_glob_covers, domains by suffix, methods by name, LLM limits by
 * value). SPAWN and SET_PERMS refuse anything else, naming the field.
 */
#include "perm-policy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "http-policy.h"
#include "macro.h"
#include "perm-glob.h"

/* Never exceeds */

typedef bool (*covers_fn)(const char *parent, const char *child);

/* Address entries open what no name does (http-policy.h). */
static bool domain_covers(const char *parent, const char *child)
{
	return http_policy_entry_covers(parent, child);
}

static bool method_covers(const char *parent, const char *child)
{
	return strcmp(parent, "*") == 0 || strcmp(parent, child) == 0;
}

/* The first entry of child no entry of parent (or extra) covers. */
static const char *uncovered(const struct perm_list *child,
			     const struct perm_list *parent, const char *extra,
			     covers_fn covers)
{
	for (size_t i = 0; i < child->n; i++) {
		bool ok = extra && covers(extra, child->v[i]);
		for (size_t j = 0; j < parent->n && !ok; j++)
			ok = covers(parent->v[j], child->v[i]);
		if (!ok)
			return child->v[i];
	}
	return NULL;
}

static int within_caps(const struct perm_policy *c, const struct perm_policy *p,
		       const char *whose, struct perm_why *why)
{
	const struct {
		const char *name;
		bool child, parent;
	} caps[] = {
		{ "can_exec", c->can_exec, p->can_exec },
		{ "can_read", c->can_read, p->can_read },
		{ "can_write", c->can_write, p->can_write },
		{ "can_think", c->can_think, p->can_think },
		{ "can_spawn", c->can_spawn, p->can_spawn },
		{ "can_http", c->can_http, p->can_http },
		{ "filesystem.no_symlinks", !c->no_symlinks, !p->no_symlinks },
	};

	for (size_t i = 0; i < ELEMENTSOF(caps); i++) {
		if (caps[i].child && !caps[i].parent) {
			snprintf(why->msg, sizeof(why->msg),
				 "permissions.%s: %s policy has %s %s, so may "
				 "not give it away",
				 caps[i].name, whose, caps[i].name,
				 strcmp(caps[i].name, "filesystem.no_symlinks")
					 ? "false"
					 : "true (symlinks refused)");
			return -EACCES;
		}
	}
	return 0;
}

static int within_lists(const struct perm_policy *c,
			const struct perm_policy *p, const char *work,
			const char *whose, struct perm_why *why)
{
	const struct {
		const char *name;
		bool active;
		const struct perm_list *child, *parent;
		const char *extra;
		covers_fn covers;
	} lists[] = {
		{ "filesystem.read", c->can_read, &c->read, &p->read,
		  p->can_read ? work : NULL, perm_glob_covers },
		{ "filesystem.write", c->can_write, &c->write, &p->write,
		  p->can_write ? work : NULL, perm_glob_covers },
		{ "exec", c->can_exec, &c->exec, &p->exec, NULL,
		  perm_glob_covers },
		{ "network", c->can_http, &c->network, &p->network, NULL,
		  domain_covers },
		{ "http_methods", c->can_http, &c->http_methods,
		  &p->http_methods, NULL, method_covers },
		/* Reversed: the child must block all the parent blocks. */
		{ "filesystem.blocked", true, &p->blocked, &c->blocked, NULL,
		  perm_glob_covers },
	};

	for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
		if (!lists[i].active)
			continue;
		const char *e = uncovered(lists[i].child, lists[i].parent,
					  lists[i].extra, lists[i].covers);
		if (!e)
			continue;
		if (lists[i].child == &p->blocked)
			snprintf(why->msg, sizeof(why->msg),
				 "permissions.filesystem.blocked: %s policy "
				 "blocks '%.200s', so must the new one",
				 whose, e);
		else
			snprintf(why->msg, sizeof(why->msg),
				 "permissions.%s: '%.200s' is not within %s "
				 "policy",
				 lists[i].name, e, whose);
		return -EACCES;
	}
	return 0;
}

static int within_limit(const char *name, int64_t child, int64_t parent,
			const char *whose, struct perm_why *why)
{
	if (parent == PERM_UNLIMITED ||
	    (child != PERM_UNLIMITED && child <= parent))
		return 0;
	if (child == PERM_UNLIMITED)
		snprintf(why->msg, sizeof(why->msg),
			 "permissions.llm.%s: no limit exceeds %s limit of "
			 "%lld",
			 name, whose, (long long)parent);
	else
		snprintf(why->msg, sizeof(why->msg),
			 "permissions.llm.%s: %lld exceeds %s limit of %lld",
			 name, (long long)child, whose, (long long)parent);
	return -EACCES;
}

int perm_policy_within(const struct perm_policy *child,
		       const struct perm_policy *parent,
		       const char *parent_work_dir, const char *whose,
		       struct perm_why *why)
{
	char work[PATH_MAX + 4];
	int r;

	if (parent_work_dir)
		snprintf(work, sizeof(work), "%s/**",
			 strcmp(parent_work_dir, "/") ? parent_work_dir : "");
	if ((r = within_caps(child, parent, whose, why)) < 0 ||
	    (r = within_lists(child, parent, parent_work_dir ? work : NULL,
			      whose, why)) < 0)
		return r;
	if (child->messaging > parent->messaging) {
		snprintf(why->msg, sizeof(why->msg),
			 "permissions.messaging: \"%s\" reaches further than "
			 "%s policy's \"%s\"",
			 perm_messaging_name(child->messaging), whose,
			 perm_messaging_name(parent->messaging));
		return -EACCES;
	}
	if (child->can_think &&
	    ((r = within_limit("max_tokens", child->max_tokens,
			       parent->max_tokens, whose, why)) < 0 ||
	     (r = within_limit("max_calls", child->max_calls, parent->max_calls,
			       whose, why)) < 0))
		return r;
	if (child->can_think && parent->max_cost_usd >= 0 &&
	    (child->max_cost_usd < 0 ||
	     child->max_cost_usd > parent->max_cost_usd)) {
		snprintf(why->msg, sizeof(why->msg),
			 "permissions.llm.max_cost_usd: %s exceeds %s limit "
			 "of %g",
			 child->max_cost_usd < 0 ? "no limit" : "the limit",
			 whose, parent->max_cost_usd);
		return -EACCES;
	}
	return 0;
}

bool perm_policy_is_unrestricted(const struct perm_policy *p)
{
	_cleanup_(perm_policy_freep) struct perm_policy *u = NULL;
	struct perm_why why;

	if (perm_policy_new_level(PERM_LEVEL_UNRESTRICTED, &u) < 0)
		return false;
	return perm_policy_within(u, p, NULL, "", &why) == 0;
}
