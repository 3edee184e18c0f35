/* SPDX-License-Identifier: MIT */
/*
 * The state-store syscalls: STORE, FETCH, DELETE and KEYS
 * (docs/protocol.md). Each names a key in a scope; the scope decides the
 * owner: "global" is shared by everyone, "agent" is the caller's own (its
 * identity, hub.h), "session" belongs to the caller's agent tree (the
 * identity of its root). Operators act as themselves, or on an agent's
 * scopes with "agent_id". Nobody else can name another agent's owner, so
 * an agent cannot read another agent's agent-scoped keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "caller.h"
#include "db.h"
#include "dispatch.h"
#include "hub.h"
#include "jsonreq.h"
#include "kernel.h"
#include "macro.h"
#include "policy.h"
#include "request.h"
#include "store.h"

/* Ten years: "forever" is no ttl at all. */
#define STORE_MAX_TTL_S (10.0 * 365 * 86400)

enum { SCOPE_GLOBAL, SCOPE_AGENT, SCOPE_SESSION, SCOPE_ANY };

static const char *const scope_names[] = { "global", "agent", "session", NULL };

/* What a request names: the key, its scope, and whose scopes. */
struct kv_req {
	const char *key;
	int scope;
	uint32_t subject;
	char owner[SCOPE_ANY][HUB_IDENT_MAX];
};

static void reply_store_error(struct request *req, int r, const char *what)
{
	if (r == -ENOSPC)
		request_reply_error(req, r,
				    "%s: the owner is at its limit (%d keys, "
				    "%lld bytes of values)",
				    what, STORE_MAX_KEYS, STORE_MAX_BYTES);
	else
		request_reply_error(req, r, "%s: %s", what,
				    db_errmsg(request_kernel(req)->hub->db));
}

/* The session owner: the identity of subject's root (an operator is its
 * own root). */
static void session_owner(struct kernel *k, uint32_t subject, char *buf)
{
	struct agent *a = agents_find_id(k->agents, subject);

	hub_ident(k->hub, a ? agent_root_id(a) : subject, buf);
}

/* "agent_id": an operator acting on an agent's scopes. */
static int parse_subject(struct request *req, json_t *args, struct kv_req *kr,
			 struct jr_err *err)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	int64_t id = 0;
	int r;

	kr->subject = c->id;
	r = jr_int(args, "agent_id", false, 1, UINT32_MAX, &id, err);
	if (r < 0 || !id || id == c->id)
		return r;
	if (c->role != ROLE_OPERATOR) {
		snprintf(err->msg, sizeof(err->msg),
			 "only operators may name another agent's keys "
			 "('agent_id')");
		return -EACCES;
	}
	if (!agents_find_id(k->agents, (uint32_t)id)) {
		snprintf(err->msg, sizeof(err->msg), "no agent with id %lld",
			 (long long)id);
		return -ENOENT;
	}
	kr->subject = (uint32_t)id;
	return 0;
}

/* Parses key, scope (dflt when absent) and agent_id; replies on error. */
static bool parse_kv(struct request *req, json_t *args, int dflt, bool need_key,
		     struct kv_req *kr)
{
	struct kernel *k = request_kernel(req);
	struct jr_err err;
	int r;

	kr->scope = dflt;
	kr->key = NULL;
	r = jr_string(args, "key", need_key, &kr->key, &err);
	if (r == 0 && kr->key &&
	    (kr->key[0] == '\0' || strlen(kr->key) > STORE_MAX_KEY)) {
		snprintf(err.msg, sizeof(err.msg),
			 "field 'key' must be 1 to %d bytes", STORE_MAX_KEY);
		r = -EINVAL;
	}
	if (r == 0)
		r = jr_enum(args, "scope", scope_names, &kr->scope, &err);
	if (r == 0)
		r = parse_subject(req, args, kr, &err);
	if (r < 0) {
		request_reply_error(req, r, "%s", err.msg);
		return false;
	}
	kr->owner[SCOPE_GLOBAL][0] = '\0';
	hub_ident(k->hub, kr->subject, kr->owner[SCOPE_AGENT]);
	session_owner(k, kr->subject, kr->owner[SCOPE_SESSION]);
	return true;
}

static struct store_key kv_key(const struct kv_req *kr, int scope)
{
	return (struct store_key){ scope_names[scope], kr->owner[scope],
				   kr->key };
}

static json_t *value_json(const char *text)
{
	json_t *v = json_loads(text ? text : "null", JSON_DECODE_ANY, NULL);

	return v ? v : json_null();
}

static json_t *expiry_json(int64_t ms)
{
	return ms ? json_real((double)ms / 1000.0) : json_null();
}

/* ESTALE: the condition failed; the reply carries the current state so a
 * compare-and-swap loop can retry without a FETCH. */
static void reply_stale(struct request *req, const struct kv_req *kr,
			int64_t want, const struct store_row *cur)
{
	request_reply_error_with(req, -ESTALE,
				 json_pack("{s:s, s:b, s:I, s:o}", "key",
					   kr->key, "exists", cur->version != 0,
					   "version", (json_int_t)cur->version,
					   "value", value_json(cur->value)),
				 "key '%.200s' is at version %lld, not %lld",
				 kr->key, (long long)cur->version,
				 (long long)want);
}

static int parse_write(json_t *args, const struct kv_req *kr,
		       struct store_write *w, char **text, struct jr_err *err)
{
	json_t *value = json_object_get(args, "value");
	double ttl = 0;
	int r;

	if (!value) {
		snprintf(err->msg, sizeof(err->msg), "missing field 'value'");
		return -EINVAL;
	}
	if ((r = jr_number(args, "ttl", false, 0.001, STORE_MAX_TTL_S, &ttl,
			   err)) < 0 ||
	    (r = jr_bool(args, "persist", &w->persist, err)) < 0 ||
	    (r = jr_int(args, "if_version", false, 0, INT64_MAX, &w->if_version,
			err)) < 0)
		return r;
	if (w->persist && kr->scope != SCOPE_GLOBAL &&
	    kr->owner[kr->scope][0] == '#') {
		snprintf(err->msg, sizeof(err->msg),
			 "'persist' needs a named owner (SPAWN with a name, or "
			 "REGISTER): '%s' ends with its caller",
			 kr->owner[kr->scope]);
		return -EINVAL;
	}
	w->ttl_ms = (int64_t)(ttl * 1000.0 + 0.5);
	*text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!*text)
		return -ENOMEM;
	w->value = *text;
	w->len = strlen(*text);
	if (w->len > STORE_MAX_VALUE) {
		snprintf(err->msg, sizeof(err->msg),
			 "value is %zu bytes of JSON; the limit is %d", w->len,
			 STORE_MAX_VALUE);
		return -EMSGSIZE;
	}
	return 0;
}

void sys_store(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	struct store_write w = { .if_version = -1,
				 .by = request_caller(req)->id };
	_cleanup_(store_row_done) struct store_row cur = { 0 };
	struct store_row done = { 0 };
	_cleanup_free_ char *text = NULL;
	struct store_key key;
	struct jr_err err;
	struct kv_req kr;
	int r;

	if (!parse_kv(req, args, SCOPE_GLOBAL, true, &kr))
		return;
	r = parse_write(args, &kr, &w, &text, &err);
	if (r < 0) {
		request_reply_error(req, r, "%s",
				    r == -ENOMEM ? "out of memory" : err.msg);
		return;
	}
	key = kv_key(&kr, kr.scope);
	r = store_put(k->hub, &key, &w, &done, &cur);
	if (r == -ESTALE) {
		reply_stale(req, &kr, w.if_version, &cur);
		return;
	}
	if (r < 0) {
		reply_store_error(req, r, "storing the key");
		return;
	}
	request_reply_json(req,
			   json_pack("{s:s, s:s, s:I, s:o, s:b}", "key", kr.key,
				     "scope", key.scope, "version",
				     (json_int_t)done.version, "expires_at",
				     expiry_json(done.expires_at), "persist",
				     done.persist));
}

/* The scopes a request without "scope" searches, most specific first. */
static const int search_order[] = { SCOPE_AGENT, SCOPE_SESSION, SCOPE_GLOBAL };

void sys_fetch(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	struct store_row row = { 0 };
	struct store_key key;
	struct kv_req kr;
	int r = -ENOENT;

	if (!parse_kv(req, args, SCOPE_ANY, true, &kr))
		return;
	for (size_t i = 0; i < ELEMENTSOF(search_order) && r == -ENOENT; i++) {
		int scope = kr.scope == SCOPE_ANY ? search_order[i] : kr.scope;

		key = kv_key(&kr, scope);
		r = store_get(k->hub, &key, &row);
		if (kr.scope != SCOPE_ANY)
			break;
	}
	if (r == -ENOENT) {
		request_reply_json(req, json_pack("{s:b, s:n, s:n, s:I}",
						  "exists", 0, "value", "scope",
						  "version", (json_int_t)0));
		return;
	}
	if (r < 0) {
		reply_store_error(req, r, "reading the key");
		return;
	}
	request_reply_json(
		req,
		json_pack("{s:b, s:o, s:s, s:I, s:o, s:b}", "exists", 1,
			  "value", value_json(row.value), "scope", key.scope,
			  "version", (json_int_t)row.version, "expires_at",
			  expiry_json(row.expires_at), "persist", row.persist));
	store_row_done(&row);
}

/* Without a scope, DELETE acts on the key FETCH would return. */
static int find_scope(struct kernel *k, const struct kv_req *kr)
{
	for (size_t i = 0; i < ELEMENTSOF(search_order); i++) {
		struct store_key key = kv_key(kr, search_order[i]);
		struct store_row row = { 0 };

		if (store_get(k->hub, &key, &row) == 0) {
			store_row_done(&row);
			return search_order[i];
		}
	}
	return SCOPE_GLOBAL;
}

void sys_delete(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	_cleanup_(store_row_done) struct store_row cur = { 0 };
	int64_t if_version = -1;
	struct store_key key;
	struct jr_err err;
	struct kv_req kr;
	int r;

	if (!parse_kv(req, args, SCOPE_ANY, true, &kr))
		return;
	if (jr_int(args, "if_version", false, 0, INT64_MAX, &if_version, &err) <
	    0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	key = kv_key(&kr,
		     kr.scope == SCOPE_ANY ? find_scope(k, &kr) : kr.scope);
	r = store_del(k->hub, &key, if_version, &cur);
	if (r == -ESTALE) {
		reply_stale(req, &kr, if_version, &cur);
		return;
	}
	if (r < 0) {
		reply_store_error(req, r, "deleting the key");
		return;
	}
	request_reply_json(req, json_pack("{s:b, s:s}", "deleted", r > 0,
					  "scope", key.scope));
}

static int keys_cmp(const void *a, const void *b)
{
	const char *ka =
		json_string_value(json_object_get(*(json_t *const *)a, "key"));
	const char *kb =
		json_string_value(json_object_get(*(json_t *const *)b, "key"));

	return strcmp(ka, kb);
}

/* items sorted by key, cut to limit; keys the distinct names. */
static json_t *keys_reply(json_t *items, unsigned limit)
{
	size_t n = json_array_size(items), i;
	_cleanup_free_ json_t **v = calloc(n + 1, sizeof(*v));
	json_t *sorted = json_array(), *keys = json_array();
	const char *last = NULL;

	for (i = 0; v && i < n; i++)
		v[i] = json_array_get(items, i);
	if (v)
		qsort(v, n, sizeof(*v), keys_cmp);
	for (i = 0; v && i < n && i < limit; i++) {
		const char *key =
			json_string_value(json_object_get(v[i], "key"));

		json_array_append(sorted, v[i]);
		if (!last || strcmp(last, key) != 0)
			json_array_append_new(keys, json_string(key));
		last = key;
	}
	json_decref(items);
	return json_pack("{s:o, s:i, s:o}", "keys", keys, "count",
			 (int)json_array_size(keys), "entries", sorted);
}

void sys_keys(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const char *prefix = "";
	json_t *items = json_array();
	int64_t limit = 1000;
	struct jr_err err;
	struct kv_req kr;
	int r = 0;

	if (!parse_kv(req, args, SCOPE_ANY, false, &kr))
		goto out;
	if (jr_string(args, "prefix", false, &prefix, &err) < 0 ||
	    jr_int(args, "limit", false, 1, STORE_MAX_LIST, &limit, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		goto out;
	}
	for (int s = 0; s < SCOPE_ANY && r >= 0; s++)
		if (kr.scope == SCOPE_ANY || kr.scope == s)
			r = store_keys(k->hub, scope_names[s], kr.owner[s],
				       prefix, (unsigned)limit, items);
	if (r < 0) {
		reply_store_error(req, r, "listing keys");
		goto out;
	}
	request_reply_json(req, keys_reply(take_ptr(items), (unsigned)limit));
out:
	json_decref(items);
}
