/* SPDX-License-Identifier: MIT */
/*
 * The audit syscalls: GET_AUDIT_LOG (filters by category, agent, time, id
 * and event type; agents see only entries about or by themselves) and
 * SET_AUDIT_CONFIG (operators only: categories and retention; the change
 * itself is always recorded). docs/protocol.md has the fields.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "caller.h"
#include "db.h"
#include "dispatch.h"
#include "hub.h"
#include "jsonreq.h"
#include "kernel.h"
#include "macro.h"
#include "policy.h"
#include "request.h"

#define AUDIT_MAX_RETENTION_DAYS 3650.0

static int parse_query(struct request *req, json_t *args, struct audit_query *q,
		       struct jr_err *err)
{
	const struct caller *c = request_caller(req);
	const char *category = NULL;
	double since = 0, until = 0;
	int64_t limit = 100;
	enum audit_category cat;
	int r;

	*q = (struct audit_query){ .category = -1 };
	if ((r = jr_string(args, "category", false, &category, err)) < 0 ||
	    (r = jr_int(args, "agent_id", false, 0, UINT32_MAX, &q->agent_id,
			err)) < 0 ||
	    (r = jr_int(args, "since_id", false, 0, INT64_MAX, &q->since_id,
			err)) < 0 ||
	    (r = jr_int(args, "limit", false, 1, AUDIT_MAX_LIMIT, &limit,
			err)) < 0 ||
	    (r = jr_number(args, "since", false, 0, 1e12, &since, err)) < 0 ||
	    (r = jr_number(args, "until", false, 0, 1e12, &until, err)) < 0 ||
	    (r = jr_string(args, "event_type", false, &q->event_type, err)) < 0)
		return r;
	if (category && audit_category_parse(category, &cat) < 0) {
		snprintf(
			err->msg, sizeof(err->msg),
			"field 'category': unknown category '%.60s' (SECURITY, "
			"AGENT_LIFECYCLE, IPC, STATE_STORE, RESOURCE, SYSCALL, "
			"NETWORK, WORLD, OPERATOR)",
			category);
		return -EINVAL;
	}
	if (category)
		q->category = (int)cat;
	q->limit = (unsigned)limit;
	q->since_ms = (int64_t)(since * 1000.0);
	q->until_ms = (int64_t)(until * 1000.0);
	if (c->role == ROLE_AGENT)
		q->only_id = c->id;
	return 0;
}

void sys_get_audit_log(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	json_t *entries = json_array();
	struct audit_query q;
	struct jr_err err;
	json_int_t last;
	int r;

	r = parse_query(req, args, &q, &err);
	if (r < 0) {
		json_decref(entries);
		request_reply_error(req, r, "%s", err.msg);
		return;
	}
	r = audit_query(k->hub, &q, entries);
	if (r < 0) {
		json_decref(entries);
		request_reply_error(req, r, "reading the audit log: %s",
				    db_errmsg(k->hub->db));
		return;
	}
	last = r ? json_integer_value(json_object_get(
			   json_array_get(entries, (size_t)r - 1), "id"))
		 : q.since_id;
	request_reply_json(req, json_pack("{s:o, s:i, s:I}", "entries", entries,
					  "count", r, "last_id", last));
}

/* Applies the fields of args to cfg; unknown fields are errors, so a
 * misspelt category is not silently ignored. */
static int parse_config(json_t *args, struct audit_config *cfg,
			struct jr_err *err)
{
	double days = (double)cfg->retention_s / 86400.0;
	const char *key;
	json_t *v;
	int r;

	json_object_foreach(args, key, v) {
		int c;

		if (!strcmp(key, "max_entries") ||
		    !strcmp(key, "retention_days"))
			continue;
		for (c = 0; c < AUDIT_NCATEGORIES; c++)
			if (!strcmp(key, audit_category_field(c)))
				break;
		if (c == AUDIT_NCATEGORIES) {
			snprintf(err->msg, sizeof(err->msg),
				 "unknown field '%.60s'", key);
			return -EINVAL;
		}
		r = jr_bool(args, key, &cfg->enabled[c], err);
		if (r < 0)
			return r;
	}
	if ((r = jr_int(args, "max_entries", false, 100, AUDIT_MAX_MAX_ENTRIES,
			&cfg->max_entries, err)) < 0 ||
	    (r = jr_number(args, "retention_days", false, 0,
			   AUDIT_MAX_RETENTION_DAYS, &days, err)) < 0)
		return r;
	cfg->retention_s = (int64_t)(days * 86400.0 + 0.5);
	return 0;
}

void sys_set_audit_config(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	struct audit_config cfg = *audit_config(k->hub);
	struct jr_err err;
	int r;

	if (!policy_is_unrestricted(k, c)) {
		request_reply_error(req, -EACCES,
				    "only callers with the unrestricted level may "
				    "change the audit configuration");
		return;
	}
	r = parse_config(args, &cfg, &err);
	if (r < 0) {
		request_reply_error(req, r, "%s", err.msg);
		return;
	}
	r = audit_set_config(k->hub, &cfg);
	if (r < 0) {
		request_reply_error(req, r,
				    "saving the audit configuration: %s",
				    db_errmsg(k->hub->db));
		return;
	}
	audit_record(k, AUDIT_SECURITY, "AUDIT_CONFIG_CHANGED", c, 0, true,
		     json_pack("{s:O}", "new_config", args), true);
	/* New retention applies now (a batch; the sweep does the rest). */
	(void)audit_trim(k->hub);
	request_reply_json(
		req, json_pack("{s:o}", "config", audit_config_json(&cfg)));
}
