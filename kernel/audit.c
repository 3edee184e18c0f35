/* SPDX-License-Identifier: MIT */
/*
 * The audit log (audit.h): its configuration, writing entries, querying
 * them for GET_AUDIT_LOG and trimming them to the retention settings.
 */
#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent.h"
#include "caller.h"
#include "db.h"
#include "hub.h"
#include "kernel.h"
#include "log.h"
#include "macro.h"

/* Rows one trim removes at most, so a trim stays short on the loop. */
#define AUDIT_TRIM_BATCH 10000
/* A trim after this many inserts keeps max_entries honest between
 * sweeps. */
#define AUDIT_TRIM_EVERY 1000

struct audit {
	struct audit_config cfg;
	unsigned since_trim;
};

static const char *const category_names[AUDIT_NCATEGORIES] = {
	[AUDIT_SECURITY] = "SECURITY", [AUDIT_LIFECYCLE] = "AGENT_LIFECYCLE",
	[AUDIT_IPC] = "IPC",	       [AUDIT_STATE] = "STATE_STORE",
	[AUDIT_RESOURCE] = "RESOURCE", [AUDIT_SYSCALL] = "SYSCALL",
	[AUDIT_NETWORK] = "NETWORK",   [AUDIT_WORLD] = "WORLD",
	[AUDIT_OPERATOR] = "OPERATOR",
};

/* The original's SET_AUDIT_CONFIG fields, plus log_operator. */
static const char *const category_fields[AUDIT_NCATEGORIES] = {
	[AUDIT_SECURITY] = "log_security", [AUDIT_LIFECYCLE] = "log_lifecycle",
	[AUDIT_IPC] = "log_ipc",	   [AUDIT_STATE] = "log_state",
	[AUDIT_RESOURCE] = "log_resource", [AUDIT_SYSCALL] = "log_syscalls",
	[AUDIT_NETWORK] = "log_network",   [AUDIT_WORLD] = "log_world",
	[AUDIT_OPERATOR] = "log_operator",
};

const char *audit_category_name(enum audit_category c)
{
	return category_names[c];
}

const char *audit_category_field(enum audit_category c)
{
	return category_fields[c];
}

int audit_category_parse(const char *name, enum audit_category *ret)
{
	for (int c = 0; c < AUDIT_NCATEGORIES; c++)
		if (strcasecmp(name, category_names[c]) == 0) {
			*ret = (enum audit_category)c;
			return 0;
		}
	return -EINVAL;
}

static void audit_defaults(struct audit_config *cfg)
{
	*cfg = (struct audit_config){
		.max_entries = AUDIT_DEFAULT_MAX_ENTRIES,
		.retention_s = AUDIT_DEFAULT_RETENTION_S,
	};
	cfg->enabled[AUDIT_SECURITY] = true;
	cfg->enabled[AUDIT_LIFECYCLE] = true;
	cfg->enabled[AUDIT_RESOURCE] = true;
	cfg->enabled[AUDIT_OPERATOR] = true;
}

json_t *audit_config_json(const struct audit_config *cfg)
{
	json_t *o = json_pack("{s:I, s:f}", "max_entries",
			      (json_int_t)cfg->max_entries, "retention_days",
			      (double)cfg->retention_s / 86400.0);

	for (int c = 0; o && c < AUDIT_NCATEGORIES; c++)
		json_object_set_new(o, category_fields[c],
				    json_boolean(cfg->enabled[c]));
	return o;
}

/* Reads what the settings row holds; fields missing keep defaults. */
static void audit_config_load(struct audit_config *cfg, json_t *o)
{
	json_t *v;

	if ((v = json_object_get(o, "max_entries")) && json_is_integer(v))
		cfg->max_entries = json_integer_value(v);
	if ((v = json_object_get(o, "retention_days")) && json_is_number(v))
		cfg->retention_s = (int64_t)(json_number_value(v) * 86400.0);
	for (int c = 0; c < AUDIT_NCATEGORIES; c++)
		if ((v = json_object_get(o, category_fields[c])) &&
		    json_is_boolean(v))
			cfg->enabled[c] = json_is_true(v);
}

int audit_init(struct hub *h)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct audit *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	audit_defaults(&a->cfg);
	h->audit = a;
	r = db_stmt(h->db,
		    "SELECT value FROM settings WHERE name = 'audit_config'",
		    &st);
	if (r < 0)
		return r;
	r = db_step(st);
	if (r > 0) {
		json_t *o = json_loads((const char *)sqlite3_column_text(st, 0),
				       0, NULL);

		audit_config_load(&a->cfg, o);
		json_decref(o);
	}
	return r < 0 ? r : 0;
}

const struct audit_config *audit_config(struct hub *h)
{
	return &h->audit->cfg;
}

int audit_set_config(struct hub *h, const struct audit_config *cfg)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *text = NULL;
	json_t *o = audit_config_json(cfg);
	int r;

	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	r = db_stmt(h->db,
		    "INSERT INTO settings VALUES ('audit_config', ?1)"
		    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
		    &st);
	if (r < 0 || (r = db_bind_text(st, 1, text)) < 0 ||
	    (r = db_run(st)) < 0)
		return r;
	h->audit->cfg = *cfg;
	return 0;
}

bool audit_enabled(struct kernel *k, enum audit_category cat)
{
	return k->hub && k->hub->audit && k->hub->audit->cfg.enabled[cat];
}

static const char *role_name(const struct caller *c)
{
	if (!c)
		return "kernel";
	return c->role == ROLE_OPERATOR ? "operator" : "agent";
}

static int audit_insert(struct hub *h, enum audit_category cat,
			const char *event_type, const struct caller *c,
			uint32_t agent_id, bool success, const char *details)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct agent *a =
		agent_id ? agents_find_id(h->k->agents, agent_id) : NULL;
	int r;

	r = db_stmt(
		h->db,
		"INSERT INTO audit (ts, category, event_type, agent_id,"
		" agent_name, caller_id, caller_role, caller_uid, success,"
		" details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		&st);
	if (r < 0 || (r = db_bind_int(st, 1, db_now_ms())) < 0 ||
	    (r = db_bind_text(st, 2, category_names[cat])) < 0 ||
	    (r = db_bind_text(st, 3, event_type)) < 0 ||
	    (r = db_bind_int(st, 4, agent_id)) < 0 ||
	    (r = a ? db_bind_text(st, 5, agent_name(a)) : db_bind_null(st, 5)) <
		    0 ||
	    (r = db_bind_int(st, 6, c ? c->id : 0)) < 0 ||
	    (r = db_bind_text(st, 7, role_name(c))) < 0 ||
	    (r = c && c->role == ROLE_OPERATOR ? db_bind_int(st, 8, c->uid)
					       : db_bind_null(st, 8)) < 0 ||
	    (r = db_bind_int(st, 9, success)) < 0 ||
	    (r = db_bind_text(st, 10, details)) < 0)
		return r;
	return db_run(st);
}

int audit_record(struct kernel *k, enum audit_category cat,
		 const char *event_type, const struct caller *c,
		 uint32_t agent_id, bool success, json_t *details, bool force)
{
	struct hub *h = k->hub;
	char *text;
	int r;

	if (!h || !h->audit || (!force && !h->audit->cfg.enabled[cat])) {
		json_decref(details);
		return 0;
	}
	text = json_dumps(details ? details : json_object(), JSON_COMPACT);
	json_decref(details);
	if (!text)
		return -ENOMEM;
	r = audit_insert(h, cat, event_type, c, agent_id, success, text);
	free(text);
	if (r < 0) {
		log_warn("audit: cannot record %s %s: %s", category_names[cat],
			 event_type, db_errmsg(h->db));
		return r;
	}
	if (++h->audit->since_trim >= AUDIT_TRIM_EVERY) {
		h->audit->since_trim = 0;
		(void)audit_trim(h);
	}
	return 0;
}

static json_t *iso_time(int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	char day[32], buf[48];
	struct tm tm;

	if (!gmtime_r(&secs, &tm) ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_null();
	snprintf(buf, sizeof(buf), "%s.%03dZ", day, (int)(ms % 1000));
	return json_string(buf);
}

static json_t *entry_json(sqlite3_stmt *st)
{
	int64_t ts = sqlite3_column_int64(st, 1);
	const char *details = (const char *)sqlite3_column_text(st, 10);
	json_t *d = json_loads(details ? details : "{}", 0, NULL);

	return json_pack(
		"{s:I, s:o, s:f, s:s, s:s, s:I, s:o, s:I, s:s, s:o, s:b, s:o}",
		"id", (json_int_t)sqlite3_column_int64(st, 0), "timestamp",
		iso_time(ts), "ts", (double)ts / 1000.0, "category",
		(const char *)sqlite3_column_text(st, 2), "event_type",
		(const char *)sqlite3_column_text(st, 3), "agent_id",
		(json_int_t)sqlite3_column_int64(st, 4), "agent_name",
		sqlite3_column_type(st, 5) == SQLITE_NULL
			? json_null()
			: json_string((const char *)sqlite3_column_text(st, 5)),
		"caller_id", (json_int_t)sqlite3_column_int64(st, 6),
		"caller_role", (const char *)sqlite3_column_text(st, 7),
		"caller_uid",
		sqlite3_column_type(st, 8) == SQLITE_NULL
			? json_null()
			: json_integer(sqlite3_column_int64(st, 8)),
		"success", sqlite3_column_int(st, 9) != 0, "details",
		d ? d : json_object());
}

#define AUDIT_COLUMNS                                                \
	"SELECT id, ts, category, event_type, agent_id, agent_name," \
	" caller_id, caller_role, caller_uid, success, details FROM audit"
#define AUDIT_FILTERS                                                      \
	" WHERE id > ?3 AND (?1 IS NULL OR category = ?1) AND (?2 IS NULL" \
	" OR agent_id = ?2) AND (?4 IS NULL OR ts >= ?4) AND (?5 IS NULL"  \
	" OR ts < ?5) AND (?6 IS NULL OR event_type = ?6) AND (?7 IS NULL" \
	" OR agent_id = ?7 OR caller_id = ?7)"

static int bind_query(sqlite3_stmt *st, const struct audit_query *q)
{
	int r;

	if ((r = q->category >= 0
			 ? db_bind_text(st, 1, category_names[q->category])
			 : 0) < 0 ||
	    (r = q->agent_id ? db_bind_int(st, 2, q->agent_id) : 0) < 0 ||
	    (r = db_bind_int(st, 3, q->since_id)) < 0 ||
	    (r = q->since_ms ? db_bind_int(st, 4, q->since_ms) : 0) < 0 ||
	    (r = q->until_ms ? db_bind_int(st, 5, q->until_ms) : 0) < 0 ||
	    (r = q->event_type ? db_bind_text(st, 6, q->event_type) : 0) < 0 ||
	    (r = q->only_id ? db_bind_int(st, 7, q->only_id) : 0) < 0)
		return r;
	return db_bind_int(st, 8, q->limit);
}

int audit_query(struct hub *h, const struct audit_query *q, json_t *out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int n = 0, r;

	/* Without since_id: the latest entries (read newest first, then put
	 * in order), as the original did. */
	r = db_stmt(h->db,
		    q->since_id ? AUDIT_COLUMNS AUDIT_FILTERS
			    " ORDER BY id LIMIT ?8"
				: AUDIT_COLUMNS AUDIT_FILTERS
			    " ORDER BY id DESC LIMIT ?8",
		    &st);
	if (r < 0 || (r = bind_query(st, q)) < 0)
		return r;
	while ((r = db_step(st)) > 0) {
		json_t *e = entry_json(st);

		if (!e)
			return -ENOMEM;
		if (q->since_id)
			json_array_append_new(out, e);
		else
			json_array_insert_new(out, 0, e);
		n++;
	}
	return r < 0 ? r : n;
}

int audit_trim(struct hub *h)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const struct audit_config *cfg = &h->audit->cfg;
	int r;

	r = db_stmt(h->db,
		    "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE"
		    " id <= (SELECT max(id) FROM audit) - ?1 OR ts < ?2"
		    " ORDER BY id LIMIT ?3)",
		    &st);
	if (r < 0 || (r = db_bind_int(st, 1, cfg->max_entries)) < 0 ||
	    (r = db_bind_int(st, 2,
			     cfg->retention_s
				     ? db_now_ms() - cfg->retention_s * 1000
				     : 0)) < 0 ||
	    (r = db_bind_int(st, 3, AUDIT_TRIM_BATCH)) < 0 ||
	    (r = db_run(st)) < 0)
		return r;
	return (int)db_changes(h->db);
}
