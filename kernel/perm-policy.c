/* SPDX-License-Identifier: MIT */
/*
 * The policy object: the five levels, parsing from JSON with errors that
 * name the field, the JSON form GET_PERMS shows, and the comparisons SPAWN
 * and SET_PERMS rely on (equal, within, inherit). Every list entry is
 * validated and canonicalized on the way in, so the rest of the kernel
 * compares canonical text only.
 */
#include "perm-policy.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "http-policy.h"
#include "perm-glob.h"

static const char *const level_names[] = {
	[PERM_LEVEL_UNRESTRICTED] = "unrestricted",
	[PERM_LEVEL_STANDARD] = "standard",
	[PERM_LEVEL_SANDBOXED] = "sandboxed",
	[PERM_LEVEL_READONLY] = "readonly",
	[PERM_LEVEL_MINIMAL] = "minimal",
	[PERM_LEVEL_CUSTOM] = "custom",
};

/* What a list holds decides how an entry is checked and canonicalized. */
enum entry_kind { ENTRY_PATH, ENTRY_PROGRAM, ENTRY_DOMAIN, ENTRY_METHOD };

static const char *const all_paths[] = { "/**", NULL };
static const char *const any[] = { "*", NULL };
/* Programs installed on the system; /bin and /sbin collapse into /usr on
 * merged-/usr systems when canonicalized. */
static const char *const system_programs[] = {
	"/usr/local/bin/**",
	"/usr/local/sbin/**",
	"/usr/bin/**",
	"/usr/sbin/**",
	"/bin/**",
	"/sbin/**",
	NULL,
};
/* Blocked for every level but unrestricted: they matter once a policy
 * widens its read or write paths. /proc and /sys would show the kernel's
 * own process, not the agent's. */
static const char *const default_blocked[] = {
	"/etc/shadow",	"/etc/shadow-",
	"/etc/gshadow", "/etc/gshadow-",
	"/etc/sudoers", "/etc/sudoers.d/**",
	"/root/**",	"/proc/**",
	"/sys/**",	NULL,
};
static const char *const default_methods[] = { "GET", "HEAD", "POST", NULL };

const char *perm_level_name(enum perm_level level)
{
	return level <= PERM_LEVEL_CUSTOM ? level_names[level] : "custom";
}

int perm_level_from_name(const char *name)
{
	for (int i = 0; i < PERM_LEVEL_CUSTOM; i++)
		if (strcmp(level_names[i], name) == 0)
			return i;
	return -EINVAL;
}

/* Lists */

static void list_free(struct perm_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool perm_list_contains(const struct perm_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

/* Appends a copy of s unless it is there already. */
static int list_push(struct perm_list *l, const char *s)
{
	if (perm_list_contains(l, s))
		return 0;
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(v[l->n] = strdup(s)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static int list_copy(struct perm_list *dst, const struct perm_list *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int r = list_push(dst, src->v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool list_equal(const struct perm_list *a, const struct perm_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

bool perm_list_allows_all(const struct perm_list *l)
{
	return perm_list_contains(l, "/**");
}

/* Entries */

static int check_domain(const char *s, const char *field, struct perm_why *why)
{
	size_t len = strlen(s), label = 0;
	const char *p = s;

	if (strcmp(s, "*") == 0)
		return 0;
	if (strncmp(s, "*.", 2) == 0)
		p += 2;
	if (len == 0 || len > 253 || !*p)
		goto bad;
	for (; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-' || !p[1])
				goto bad;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-') {
			if ((label == 0 && *p == '-') || ++label > 63)
				goto bad;
		} else {
			goto bad;
		}
	}
	if (p[-1] == '-')
		goto bad;
	return 0;
bad:
	snprintf(why->msg, sizeof(why->msg),
		 "%s: '%.100s' is not a domain ('api.example.com', "
		 "'*.example.com' or '*')",
		 field, s);
	return -EINVAL;
}

static int check_method(const char *s, const char *field, struct perm_why *why)
{
	size_t len = strlen(s);

	if (strcmp(s, "*") == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalpha((unsigned char)s[i]))
			len = 0;
	if (len == 0 || len > 16) {
		snprintf(why->msg, sizeof(why->msg),
			 "%s: '%.100s' is not an HTTP method (letters, or '*')",
			 field, s);
		return -EINVAL;
	}
	return 0;
}

/* Domains are stored in lower case, methods in upper case. */
static void case_copy(const char *s, char *buf, size_t len, bool upper)
{
	snprintf(buf, len, "%s", s);
	for (char *c = buf; *c; c++)
		*c = upper ? (char)toupper((unsigned char)*c)
			   : (char)tolower((unsigned char)*c);
}

/* Validates s as an entry of kind and appends its canonical form. */
static int entry_add(struct perm_list *l, enum entry_kind kind, const char *s,
		     const char *field, struct perm_why *why)
{
	char buf[PERM_PATTERN_MAX];
	int r;

	switch (kind) {
	case ENTRY_PATH:
	case ENTRY_PROGRAM:
		r = perm_glob_validate(s, field, why->msg, sizeof(why->msg));
		if (r < 0)
			return r;
		r = perm_glob_canonicalize(s, kind == ENTRY_PROGRAM, buf,
					   sizeof(buf));
		if (r < 0) {
			snprintf(why->msg, sizeof(why->msg),
				 "%s: pattern too long once canonical", field);
			return -EINVAL;
		}
		break;
	case ENTRY_DOMAIN:
		/* An address ("10.0.0.5", "[fd00::1]") is stored in the
		 * form HTTP compares against (http-policy.h). */
		r = http_policy_canonical_entry(s, buf, sizeof(buf));
		if (r < 0) {
			snprintf(why->msg, sizeof(why->msg),
				 "%s: '%.100s' is not an IPv6 address", field,
				 s);
			return r;
		}
		if (r > 0)
			break;
		r = check_domain(s, field, why);
		if (r < 0)
			return r;
		case_copy(s, buf, sizeof(buf), false);
		break;
	case ENTRY_METHOD:
		r = check_method(s, field, why);
		if (r < 0)
			return r;
		case_copy(s, buf, sizeof(buf), true);
		break;
	default:
		return -EINVAL;
	}
	r = list_push(l, buf);
	if (r < 0)
		snprintf(why->msg, sizeof(why->msg), "out of memory");
	return r;
}

static int list_set_builtin(struct perm_list *l, enum entry_kind kind,
			    const char *const *entries)
{
	struct perm_why why;

	list_free(l);
	for (; entries && *entries; entries++) {
		int r = entry_add(l, kind, *entries, "builtin", &why);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Levels */

struct level_def {
	bool exec, read, write, think, spawn, http;
	enum perm_messaging messaging;
	const char *const *fs_read, *const *fs_write, *const *blocked;
	const char *const *programs, *const *network, *const *methods;
};

/* Each level allows a subset of the one above it (tested). Paths beyond
 * these lists: an agent's own work directory, always readable and
 * writable when the level can read or write (perm-path.c). */
static const struct level_def levels[] = {
	[PERM_LEVEL_UNRESTRICTED] = { true, true, true, true, true, true,
				      PERM_MSG_ANY, all_paths, all_paths, NULL,
				      all_paths, any, any },
	[PERM_LEVEL_STANDARD] = { true, true, true, true, true, false,
				  PERM_MSG_TREE, NULL, NULL, default_blocked,
				  system_programs, NULL, default_methods },
	[PERM_LEVEL_SANDBOXED] = { false, true, true, true, false, false,
				   PERM_MSG_TREE, NULL, NULL, default_blocked,
				   NULL, NULL, default_methods },
	[PERM_LEVEL_READONLY] = { false, true, false, true, false, false,
				  PERM_MSG_TREE, NULL, NULL, default_blocked,
				  NULL, NULL, default_methods },
	[PERM_LEVEL_MINIMAL] = { false, false, false, true, false, false,
				 PERM_MSG_TREE, NULL, NULL, default_blocked,
				 NULL, NULL, default_methods },
};

static int policy_set_level(struct perm_policy *p, enum perm_level level)
{
	const struct level_def *d = &levels[level];
	int r;

	p->can_exec = d->exec;
	p->can_read = d->read;
	p->can_write = d->write;
	p->can_think = d->think;
	p->can_spawn = d->spawn;
	p->can_http = d->http;
	p->messaging = d->messaging;
	p->no_symlinks = false;
	p->max_tokens = p->max_calls = PERM_UNLIMITED;
	p->max_cost_usd = PERM_UNLIMITED;
	if ((r = list_set_builtin(&p->read, ENTRY_PATH, d->fs_read)) < 0 ||
	    (r = list_set_builtin(&p->write, ENTRY_PATH, d->fs_write)) < 0 ||
	    (r = list_set_builtin(&p->blocked, ENTRY_PATH, d->blocked)) < 0 ||
	    (r = list_set_builtin(&p->exec, ENTRY_PROGRAM, d->programs)) < 0 ||
	    (r = list_set_builtin(&p->network, ENTRY_DOMAIN, d->network)) < 0 ||
	    (r = list_set_builtin(&p->http_methods, ENTRY_METHOD, d->methods)) <
		    0)
		return r;
	return 0;
}

static struct perm_policy *policy_alloc(void)
{
	struct perm_policy *p = calloc(1, sizeof(*p));

	if (p) {
		p->max_tokens = p->max_calls = PERM_UNLIMITED;
		p->max_cost_usd = PERM_UNLIMITED;
	}
	return p;
}

void perm_policy_free(struct perm_policy *p)
{
	if (!p)
		return;
	list_free(&p->read);
	list_free(&p->write);
	list_free(&p->blocked);
	list_free(&p->exec);
	list_free(&p->network);
	list_free(&p->http_methods);
	free(p);
}

void perm_policy_freep(struct perm_policy **p)
{
	perm_policy_free(*p);
}

int perm_policy_new_level(enum perm_level level, struct perm_policy **ret)
{
	_cleanup_(perm_policy_freep) struct perm_policy *p = NULL;

	if (level >= PERM_LEVEL_CUSTOM)
		return -EINVAL;
	p = policy_alloc();
	if (!p)
		return -ENOMEM;
	int r = policy_set_level(p, level);
	if (r < 0)
		return r;
	*ret = take_ptr(p);
	return 0;
}

int perm_policy_copy(const struct perm_policy *src, struct perm_policy **ret)
{
	_cleanup_(perm_policy_freep) struct perm_policy *p = policy_alloc();
	int r;

	if (!p)
		return -ENOMEM;
	p->can_exec = src->can_exec;
	p->can_read = src->can_read;
	p->can_write = src->can_write;
	p->can_think = src->can_think;
	p->can_spawn = src->can_spawn;
	p->can_http = src->can_http;
	p->messaging = src->messaging;
	p->no_symlinks = src->no_symlinks;
	p->max_tokens = src->max_tokens;
	p->max_calls = src->max_calls;
	p->max_cost_usd = src->max_cost_usd;
	if ((r = list_copy(&p->read, &src->read)) < 0 ||
	    (r = list_copy(&p->write, &src->write)) < 0 ||
	    (r = list_copy(&p->blocked, &src->blocked)) < 0 ||
	    (r = list_copy(&p->exec, &src->exec)) < 0 ||
	    (r = list_copy(&p->network, &src->network)) < 0 ||
	    (r = list_copy(&p->http_methods, &src->http_methods)) < 0)
		return r;
	*ret = take_ptr(p);
	return 0;
}

bool perm_policy_equal(const struct perm_policy *a, const struct perm_policy *b)
{
	return a->can_exec == b->can_exec && a->can_read == b->can_read &&
	       a->can_write == b->can_write && a->can_think == b->can_think &&
	       a->can_spawn == b->can_spawn && a->can_http == b->can_http &&
	       a->messaging == b->messaging &&
	       a->no_symlinks == b->no_symlinks &&
	       a->max_tokens == b->max_tokens && a->max_calls == b->max_calls &&
	       a->max_cost_usd == b->max_cost_usd &&
	       list_equal(&a->read, &b->read) &&
	       list_equal(&a->write, &b->write) &&
	       list_equal(&a->blocked, &b->blocked) &&
	       list_equal(&a->exec, &b->exec) &&
	       list_equal(&a->network, &b->network) &&
	       list_equal(&a->http_methods, &b->http_methods);
}

enum perm_level perm_policy_level(const struct perm_policy *p)
{
	for (int i = 0; i < PERM_LEVEL_CUSTOM; i++) {
		_cleanup_(perm_policy_freep) struct perm_policy *l = NULL;
		if (perm_policy_new_level((enum perm_level)i, &l) == 0 &&
		    perm_policy_equal(p, l))
			return (enum perm_level)i;
	}
	return PERM_LEVEL_CUSTOM;
}

/* JSON out */

static json_t *list_json(const struct perm_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		if (json_array_append_new(a, json_string(l->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *limit_json(int64_t v)
{
	return v == PERM_UNLIMITED ? json_null() : json_integer(v);
}

json_t *perm_policy_to_json(const struct perm_policy *p)
{
	/* clang-format off */
	return json_pack(
		"{s:b, s:b, s:b, s:b, s:b, s:b, s:s,"
		" s:{s:o, s:o, s:o, s:b}, s:o, s:o, s:o, s:{s:o, s:o, s:o}}",
		"can_exec", p->can_exec,
		"can_read", p->can_read,
		"can_write", p->can_write,
		"can_think", p->can_think,
		"can_spawn", p->can_spawn,
		"can_http", p->can_http,
		"messaging", perm_messaging_name(p->messaging),
		"filesystem",
			"read", list_json(&p->read),
			"write", list_json(&p->write),
			"blocked", list_json(&p->blocked),
			"no_symlinks", p->no_symlinks,
		"exec", list_json(&p->exec),
		"network", list_json(&p->network),
		"http_methods", list_json(&p->http_methods),
		"llm",
			"max_tokens", limit_json(p->max_tokens),
			"max_calls", limit_json(p->max_calls),
			"max_cost_usd", p->max_cost_usd < 0 ?
				json_null() : json_real(p->max_cost_usd));
	/* clang-format on */
}

/* JSON in */

static int parse_bool(json_t *o, const char *key, const char *prefix, bool *ret,
		      struct perm_why *why)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(why->msg, sizeof(why->msg),
			 "field '%s%s' must be true or false", prefix, key);
		return -EINVAL;
	}
	*ret = json_is_true(v);
	return 0;
}

/* Replaces *l with the array at o[key] when present. */
static int parse_list(json_t *o, const char *key, const char *prefix,
		      enum entry_kind kind, struct perm_list *l,
		      struct perm_why *why)
{
	json_t *arr = json_object_get(o, key), *v;
	struct perm_list fresh = { 0 };
	char field[128];
	size_t i;

	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > PERM_MAX_ENTRIES) {
		snprintf(why->msg, sizeof(why->msg),
			 "field '%s%s' must be an array of at most %d strings",
			 prefix, key, PERM_MAX_ENTRIES);
		return -EINVAL;
	}
	json_array_foreach(arr, i, v) {
		snprintf(field, sizeof(field), "field '%s%s[%zu]'", prefix, key,
			 i);
		int r = -EINVAL;
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			snprintf(why->msg, sizeof(why->msg),
				 "%s must be a string", field);
		else
			r = entry_add(&fresh, kind, json_string_value(v), field,
				      why);
		if (r < 0) {
			list_free(&fresh);
			return r;
		}
	}
	list_free(l);
	*l = fresh;
	return 0;
}

/* Fails on a key of o that is not in known (NULL-terminated). */
static int check_keys(json_t *o, const char *const *known, const char *prefix,
		      struct perm_why *why)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		const char *const *k = known;
		while (*k && strcmp(*k, key) != 0)
			k++;
		if (!*k) {
			snprintf(why->msg, sizeof(why->msg),
				 "unknown field '%s%.100s'", prefix, key);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_limit(json_t *o, const char *key, int64_t *ret,
		       struct perm_why *why)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (json_is_null(v)) {
		*ret = PERM_UNLIMITED;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why->msg, sizeof(why->msg),
			 "field 'permissions.llm.%s' must be a non-negative "
			 "integer or null (no limit)",
			 key);
		return -EINVAL;
	}
	*ret = json_integer_value(v);
	return 0;
}

static int parse_sub_object(json_t *o, const char *key, json_t **ret,
			    struct perm_why *why)
{
	json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		snprintf(why->msg, sizeof(why->msg),
			 "field 'permissions.%s' must be an object", key);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_filesystem(json_t *o, struct perm_policy *p,
			    struct perm_why *why)
{
	static const char *const keys[] = { "read", "write", "blocked",
					    "no_symlinks", NULL };
	static const char prefix[] = "permissions.filesystem.";
	json_t *fs;
	int r;

	if ((r = parse_sub_object(o, "filesystem", &fs, why)) < 0 || !fs)
		return r;
	if ((r = check_keys(fs, keys, prefix, why)) < 0 ||
	    (r = parse_list(fs, "read", prefix, ENTRY_PATH, &p->read, why)) <
		    0 ||
	    (r = parse_list(fs, "write", prefix, ENTRY_PATH, &p->write, why)) <
		    0 ||
	    (r = parse_list(fs, "blocked", prefix, ENTRY_PATH, &p->blocked,
			    why)) < 0 ||
	    (r = parse_bool(fs, "no_symlinks", prefix, &p->no_symlinks, why)) <
		    0)
		return r;
	return 0;
}

static int parse_cost(json_t *o, double *ret, struct perm_why *why)
{
	json_t *v = json_object_get(o, "max_cost_usd");

	if (!v)
		return 0;
	if (json_is_null(v)) {
		*ret = PERM_UNLIMITED;
		return 0;
	}
	if (!json_is_number(v) || json_number_value(v) < 0 ||
	    json_number_value(v) > 1e9) {
		snprintf(why->msg, sizeof(why->msg),
			 "field 'permissions.llm.max_cost_usd' must be a "
			 "non-negative number or null (no limit)");
		return -EINVAL;
	}
	*ret = json_number_value(v);
	return 0;
}

static int parse_llm(json_t *o, struct perm_policy *p, struct perm_why *why)
{
	static const char *const keys[] = { "max_tokens", "max_calls",
					    "max_cost_usd", NULL };
	json_t *llm;
	int r;

	if ((r = parse_sub_object(o, "llm", &llm, why)) < 0 || !llm)
		return r;
	if ((r = check_keys(llm, keys, "permissions.llm.", why)) < 0 ||
	    (r = parse_limit(llm, "max_tokens", &p->max_tokens, why)) < 0 ||
	    (r = parse_limit(llm, "max_calls", &p->max_calls, why)) < 0 ||
	    (r = parse_cost(llm, &p->max_cost_usd, why)) < 0)
		return r;
	return 0;
}

static const char *const messaging_names[] = {
	[PERM_MSG_NONE] = "none",
	[PERM_MSG_TREE] = "tree",
	[PERM_MSG_ANY] = "any",
};

const char *perm_messaging_name(enum perm_messaging m)
{
	return m < ELEMENTSOF(messaging_names) ? messaging_names[m] : "none";
}

static int parse_messaging(json_t *o, struct perm_policy *p,
			   struct perm_why *why)
{
	json_t *v = json_object_get(o, "messaging");
	const char *s = json_string_value(v);

	if (!v || json_is_null(v))
		return 0;
	for (size_t i = 0; s && i < ELEMENTSOF(messaging_names); i++)
		if (!strcmp(s, messaging_names[i])) {
			p->messaging = (enum perm_messaging)i;
			return 0;
		}
	snprintf(why->msg, sizeof(why->msg),
		 "field 'permissions.messaging' must be \"none\", \"tree\" or "
		 "\"any\"");
	return -EINVAL;
}

static int parse_object(json_t *o, struct perm_policy *p, struct perm_why *why)
{
	static const char *const keys[] = {
		"level",     "can_exec",  "can_read",	  "can_write",
		"can_think", "can_spawn", "can_http",	  "filesystem",
		"exec",	     "network",	  "http_methods", "llm",
		"messaging", NULL,
	};
	static const char prefix[] = "permissions.";
	bool *caps[] = { &p->can_exec,	&p->can_read,  &p->can_write,
			 &p->can_think, &p->can_spawn, &p->can_http };
	int r;

	if ((r = check_keys(o, keys, prefix, why)) < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(caps); i++)
		if ((r = parse_bool(o, keys[i + 1], prefix, caps[i], why)) < 0)
			return r;
	if ((r = parse_filesystem(o, p, why)) < 0 ||
	    (r = parse_list(o, "exec", prefix, ENTRY_PROGRAM, &p->exec, why)) <
		    0 ||
	    (r = parse_list(o, "network", prefix, ENTRY_DOMAIN, &p->network,
			    why)) < 0 ||
	    (r = parse_list(o, "http_methods", prefix, ENTRY_METHOD,
			    &p->http_methods, why)) < 0 ||
	    (r = parse_llm(o, p, why)) < 0 ||
	    (r = parse_messaging(o, p, why)) < 0)
		return r;
	return 0;
}

static int level_of(json_t *v, const char *field, int *ret,
		    struct perm_why *why)
{
	if (!json_is_string(v)) {
		snprintf(why->msg, sizeof(why->msg),
			 "field '%s' must be a level name", field);
		return -EINVAL;
	}
	*ret = perm_level_from_name(json_string_value(v));
	if (*ret < 0) {
		snprintf(why->msg, sizeof(why->msg),
			 "unknown permission level '%.64s' (known: "
			 "unrestricted, standard, sandboxed, readonly, "
			 "minimal)",
			 json_string_value(v));
		return -EINVAL;
	}
	return 0;
}

int perm_policy_from_json(json_t *v, struct perm_policy **ret,
			  struct perm_why *why)
{
	_cleanup_(perm_policy_freep) struct perm_policy *p = policy_alloc();
	int level = -1, r;

	if (!p) {
		snprintf(why->msg, sizeof(why->msg), "out of memory");
		return -ENOMEM;
	}
	if (json_is_string(v)) {
		if ((r = level_of(v, "permissions", &level, why)) < 0)
			return r;
	} else if (json_is_object(v)) {
		json_t *l = json_object_get(v, "level");
		if (l &&
		    (r = level_of(l, "permissions.level", &level, why)) < 0)
			return r;
	} else {
		snprintf(why->msg, sizeof(why->msg),
			 "field 'permissions' must be a level name or a policy "
			 "object");
		return -EINVAL;
	}
	if (level >= 0 && (r = policy_set_level(p, (enum perm_level)level)) < 0)
		return r;
	if (json_is_object(v) && (r = parse_object(v, p, why)) < 0)
		return r;
	*ret = take_ptr(p);
	return 0;
}

/* Restrictions carried from parent to child */

int perm_policy_inherit(struct perm_policy *child,
			const struct perm_policy *parent)
{
	for (size_t i = 0; i < parent->blocked.n; i++) {
		bool covered = false;
		for (size_t j = 0; j < child->blocked.n && !covered; j++)
			covered = perm_glob_covers(child->blocked.v[j],
						   parent->blocked.v[i]);
		if (!covered) {
			int r = list_push(&child->blocked,
					  parent->blocked.v[i]);
			if (r < 0)
				return r;
		}
	}
	child->no_symlinks |= parent->no_symlinks;
	if (child->max_tokens == PERM_UNLIMITED)
		child->max_tokens = parent->max_tokens;
	if (child->max_calls == PERM_UNLIMITED)
		child->max_calls = parent->max_calls;
	if (child->max_cost_usd < 0)
		child->max_cost_usd = parent->max_cost_usd;
	return 0;
}
