/* SPDX-License-Identifier: MIT */
/*
 * Key-value storage (store.h). Each write is one short IMMEDIATE
 * transaction: read the row, check the condition and the owner's limits
 * (kept in kv_counts by triggers), upsert. The version counter lives in
 * memory; whenever rows are deleted its value is saved as kv_revision in
 * the same transaction, so after a restart it starts above every version
 * ever handed out, whether or not that row still exists.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hub.h"
#include "macro.h"

void store_row_done(struct store_row *row)
{
	free(row->value);
	*row = (struct store_row){ 0 };
}

static int bind_key(sqlite3_stmt *st, const struct store_key *k)
{
	int r;

	if ((r = db_bind_text(st, 1, k->scope)) < 0 ||
	    (r = db_bind_text(st, 2, k->owner)) < 0)
		return r;
	return db_bind_text(st, 3, k->key);
}

/* 1 and ret filled when the row exists (expired or not), 0 when not. */
static int store_read(struct hub *h, const struct store_key *k,
		      struct store_row *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const char *v;
	int r;

	r = db_stmt(h->db,
		    "SELECT version, expires_at, persist, value FROM kv"
		    " WHERE scope = ?1 AND owner = ?2 AND key = ?3",
		    &st);
	if (r < 0 || (r = bind_key(st, k)) < 0)
		return r;
	r = db_step(st);
	if (r <= 0)
		return r;
	v = (const char *)sqlite3_column_text(st, 3);
	ret->version = sqlite3_column_int64(st, 0);
	ret->expires_at = sqlite3_column_int64(st, 1);
	ret->persist = sqlite3_column_int(st, 2) != 0;
	ret->value = strdup(v ? v : "null");
	return ret->value ? 1 : -ENOMEM;
}

static bool row_live(const struct store_row *row, int64_t now)
{
	return row->expires_at == 0 || row->expires_at > now;
}

/* Saves the version counter: called in every transaction that deletes. */
static int store_save_floor(struct hub *h)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = db_stmt(
		h->db,
		"INSERT INTO settings VALUES ('kv_revision', ?1)"
		" ON CONFLICT (name) DO UPDATE SET value = excluded.value",
		&st);

	if (r < 0 || (r = db_bind_int(st, 1, h->kv_rev)) < 0)
		return r;
	return db_run(st);
}

/* -ENOSPC when adding (or growing) a value would break the owner's
 * limits; old is the existing row's value (NULL when none). */
static int store_check_room(struct hub *h, const struct store_key *k,
			    const char *old, size_t len)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t n = 0, bytes = 0;
	int r;

	r = db_stmt(h->db,
		    "SELECT n, bytes FROM kv_counts WHERE scope = ?1 AND"
		    " owner = ?2",
		    &st);
	if (r < 0 || (r = db_bind_text(st, 1, k->scope)) < 0 ||
	    (r = db_bind_text(st, 2, k->owner)) < 0)
		return r;
	r = db_step(st);
	if (r < 0)
		return r;
	if (r > 0) {
		n = sqlite3_column_int64(st, 0);
		bytes = sqlite3_column_int64(st, 1);
	}
	if (!old && n >= STORE_MAX_KEYS)
		return -ENOSPC;
	if (bytes - (old ? (int64_t)strlen(old) : 0) + (int64_t)len >
	    STORE_MAX_BYTES)
		return -ENOSPC;
	return 0;
}

static int store_upsert(struct hub *h, const struct store_key *k,
			const struct store_write *w, int64_t version,
			int64_t expires)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = db_stmt(h->db,
		    "INSERT INTO kv (scope, owner, key, value, version,"
		    " expires_at, persist, updated_at, updated_by)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		    " ON CONFLICT (scope, owner, key) DO UPDATE SET"
		    " value = excluded.value, version = excluded.version,"
		    " expires_at = excluded.expires_at,"
		    " persist = excluded.persist,"
		    " updated_at = excluded.updated_at,"
		    " updated_by = excluded.updated_by",
		    &st);
	if (r < 0 || (r = bind_key(st, k)) < 0 ||
	    (r = db_bind_textn(st, 4, w->value, w->len)) < 0 ||
	    (r = db_bind_int(st, 5, version)) < 0 ||
	    (r = expires ? db_bind_int(st, 6, expires) : db_bind_null(st, 6)) <
		    0 ||
	    (r = db_bind_int(st, 7, w->persist)) < 0 ||
	    (r = db_bind_int(st, 8, db_now_ms())) < 0 ||
	    (r = db_bind_int(st, 9, w->by)) < 0)
		return r;
	return db_run(st);
}

/* Compare-and-swap: -ESTALE unless the live row's version (0: none) is
 * if_version (< 0: no condition); the live row then moves to *cur. */
static int version_check(struct store_row *old, bool live, int64_t if_version,
			 struct store_row *cur)
{
	if (if_version < 0 || (live ? old->version : 0) == if_version)
		return 0;
	if (live) {
		*cur = *old;
		*old = (struct store_row){ 0 };
	}
	return -ESTALE;
}

int store_put(struct hub *h, const struct store_key *k,
	      const struct store_write *w, struct store_row *ret,
	      struct store_row *cur)
{
	_cleanup_(store_row_done) struct store_row old = { 0 };
	int64_t now = db_now_ms(), version = h->kv_rev + 1;
	int64_t expires = w->ttl_ms ? now + w->ttl_ms : 0;
	bool exists, live;
	int r;

	r = db_begin(h->db);
	if (r < 0)
		return r;
	r = store_read(h, k, &old);
	if (r < 0)
		goto fail;
	exists = r > 0;
	live = exists && row_live(&old, now);
	r = version_check(&old, live, w->if_version, cur);
	if (r < 0)
		goto fail;
	r = store_check_room(h, k, exists ? old.value : NULL, w->len);
	if (r < 0)
		goto fail;
	r = store_upsert(h, k, w, version, expires);
	if (r == 0)
		r = db_commit(h->db);
	if (r < 0)
		goto fail;
	h->kv_rev = version;
	ret->version = version;
	ret->expires_at = expires;
	ret->persist = w->persist;
	return 0;
fail:
	db_rollback(h->db);
	return r;
}

int store_get(struct hub *h, const struct store_key *k, struct store_row *ret)
{
	struct store_row row = { 0 };
	int r = store_read(h, k, &row);

	if (r < 0)
		return r;
	if (r == 0 || !row_live(&row, db_now_ms())) {
		store_row_done(&row);
		return -ENOENT;
	}
	*ret = row;
	return 0;
}

static int store_delete_row(struct hub *h, const struct store_key *k)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = db_stmt(h->db,
			"DELETE FROM kv WHERE scope = ?1 AND owner = ?2 AND"
			" key = ?3",
			&st);

	if (r < 0 || (r = bind_key(st, k)) < 0)
		return r;
	return db_run(st);
}

int store_del(struct hub *h, const struct store_key *k, int64_t if_version,
	      struct store_row *cur)
{
	_cleanup_(store_row_done) struct store_row old = { 0 };
	bool live;
	int r;

	r = db_begin(h->db);
	if (r < 0)
		return r;
	r = store_read(h, k, &old);
	if (r < 0)
		goto fail;
	live = r > 0 && row_live(&old, db_now_ms());
	r = version_check(&old, live, if_version, cur);
	if (r < 0)
		goto fail;
	if (!live) {
		db_rollback(h->db);
		return 0;
	}
	if ((r = store_delete_row(h, k)) < 0 || (r = store_save_floor(h)) < 0 ||
	    (r = db_commit(h->db)) < 0)
		goto fail;
	return 1;
fail:
	db_rollback(h->db);
	return r;
}

/* The smallest string above every string starting with prefix, in the
 * byte order sqlite's BINARY collation uses; "" when there is none. */
static void prefix_upper(const char *prefix, char *buf, size_t size)
{
	size_t n = strlen(prefix);

	if (n >= size)
		n = size - 1;
	memcpy(buf, prefix, n);
	while (n > 0 && (unsigned char)buf[n - 1] == 0xff)
		n--;
	if (n > 0)
		buf[n - 1] = (char)((unsigned char)buf[n - 1] + 1);
	buf[n] = '\0';
}

static json_t *key_item(sqlite3_stmt *st, const char *scope)
{
	int64_t exp = sqlite3_column_int64(st, 2);

	return json_pack("{s:s, s:s, s:I, s:o}", "key",
			 (const char *)sqlite3_column_text(st, 0), "scope",
			 scope, "version",
			 (json_int_t)sqlite3_column_int64(st, 1), "expires_at",
			 exp ? json_real((double)exp / 1000.0) : json_null());
}

int store_keys(struct hub *h, const char *scope, const char *owner,
	       const char *prefix, unsigned limit, json_t *items)
{
	static const char bounded[] =
		"SELECT key, version, expires_at FROM kv WHERE scope = ?1 AND"
		" owner = ?2 AND key >= ?3 AND key < ?4 AND (expires_at IS NULL"
		" OR expires_at > ?5) ORDER BY key LIMIT ?6";
	static const char open_ended[] =
		"SELECT key, version, expires_at FROM kv WHERE scope = ?1 AND"
		" owner = ?2 AND key >= ?3 AND (expires_at IS NULL OR"
		" expires_at > ?5) ORDER BY key LIMIT ?6";
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char upper[STORE_MAX_KEY + 1];
	int n = 0, r;

	prefix_upper(prefix, upper, sizeof(upper));
	r = db_stmt(h->db, upper[0] ? bounded : open_ended, &st);
	if (r < 0 || (r = db_bind_text(st, 1, scope)) < 0 ||
	    (r = db_bind_text(st, 2, owner)) < 0 ||
	    (r = db_bind_text(st, 3, prefix)) < 0 ||
	    (upper[0] && (r = db_bind_text(st, 4, upper)) < 0) ||
	    (r = db_bind_int(st, 5, db_now_ms())) < 0 ||
	    (r = db_bind_int(st, 6, limit)) < 0)
		return r;
	while ((r = db_step(st)) > 0) {
		json_t *item = key_item(st, scope);

		if (!item || json_array_append_new(items, item) < 0)
			return -ENOMEM;
		n++;
	}
	return r < 0 ? r : n;
}

static int store_exec_owner(struct hub *h, const char *sql, const char *a,
			    const char *b)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = db_stmt(h->db, sql, &st);

	if (r < 0 || (r = db_bind_text(st, 1, a)) < 0 ||
	    (b && (r = db_bind_text(st, 2, b)) < 0))
		return r;
	return db_run(st);
}

int store_forget(struct hub *h, const char *scope, const char *owner)
{
	int r = db_begin(h->db);

	if (r < 0)
		return r;
	if ((r = store_exec_owner(h,
				  "DELETE FROM kv WHERE scope = ?1 AND"
				  " owner = ?2 AND persist = 0",
				  scope, owner)) < 0 ||
	    (r = store_save_floor(h)) < 0 || (r = db_commit(h->db)) < 0)
		db_rollback(h->db);
	return r;
}

int store_rename(struct hub *h, const char *from, const char *to)
{
	int r = db_begin(h->db);

	if (r < 0)
		return r;
	/* The caller's current keys win over what the new name held. */
	if ((r = store_exec_owner(
		     h,
		     "DELETE FROM kv WHERE owner = ?2 AND scope IN ('agent',"
		     " 'session') AND (scope, key) IN (SELECT scope, key FROM"
		     " kv WHERE owner = ?1 AND scope IN ('agent', 'session'))",
		     from, to)) < 0 ||
	    (r = store_exec_owner(h,
				  "UPDATE kv SET owner = ?2 WHERE owner = ?1"
				  " AND scope IN ('agent', 'session')",
				  from, to)) < 0 ||
	    (r = store_save_floor(h)) < 0 || (r = db_commit(h->db)) < 0)
		db_rollback(h->db);
	return r;
}

int store_sweep(struct hub *h)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t n;
	int r = db_begin(h->db);

	if (r < 0)
		return r;
	r = db_stmt(h->db,
		    "DELETE FROM kv WHERE (scope, owner, key) IN (SELECT scope,"
		    " owner, key FROM kv WHERE expires_at <= ?1 LIMIT 1000)",
		    &st);
	if (r == 0 && (r = db_bind_int(st, 1, db_now_ms())) == 0)
		r = db_run(st);
	n = db_changes(h->db);
	if (r == 0 && (r = store_save_floor(h)) == 0)
		r = db_commit(h->db);
	if (r < 0) {
		db_rollback(h->db);
		return r;
	}
	return (int)n;
}

int store_init(struct hub *h)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = db_stmt(h->db,
		    "SELECT max(coalesce((SELECT max(version) FROM kv), 0),"
		    " coalesce((SELECT CAST(value AS INTEGER) FROM settings"
		    " WHERE name = 'kv_revision'), 0))",
		    &st);
	if (r < 0)
		return r;
	r = db_step(st);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	h->kv_rev = sqlite3_column_int64(st, 0);
	db_stmt_done(st);
	st = NULL;
	/* As for mailboxes: "#<id>" owners were callers of the last run. */
	r = db_begin(h->db);
	if (r < 0)
		return r;
	if ((r = db_exec(h->db, "DELETE FROM kv WHERE owner LIKE '#%'")) < 0 ||
	    (r = store_save_floor(h)) < 0 || (r = db_commit(h->db)) < 0)
		db_rollback(h->db);
	return r;
}
