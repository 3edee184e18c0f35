/* SPDX-License-Identifier: MIT */
/*
 * Mailbox storage (mailbox.h). The per-mailbox bound is checked with a
 * count that stops at the limit, over the (mailbox, id) index, so a SEND
 * costs at most MAILBOX_MAX_MESSAGES index steps and usually a handful.
 * The kernel-wide count lives in memory: cloved is the only writer.
 */
#include "mailbox.h"

#include <errno.h>
#include <string.h>

#include "db.h"
#include "hub.h"
#include "macro.h"

int mailbox_count(struct hub *h, const char *mailbox, unsigned limit)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = db_stmt(h->db,
		    "SELECT count(*) FROM (SELECT 1 FROM messages"
		    " WHERE mailbox = ?1 LIMIT ?2)",
		    &st);
	if (r < 0)
		return r;
	if ((r = db_bind_text(st, 1, mailbox)) < 0 ||
	    (r = db_bind_int(st, 2, limit)) < 0)
		return r;
	r = db_step(st);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	return sqlite3_column_int(st, 0);
}

int mailbox_put(struct hub *h, const char *mailbox,
		const struct mailbox_from *from, const char *body, size_t len,
		int64_t *ret_id)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	if (h->total_messages >= MAILBOX_MAX_TOTAL)
		return -EAGAIN;
	r = mailbox_count(h, mailbox, MAILBOX_MAX_MESSAGES);
	if (r < 0)
		return r;
	if (r >= MAILBOX_MAX_MESSAGES)
		return -EAGAIN;
	r = db_stmt(h->db,
		    "INSERT INTO messages (mailbox, from_id, from_name, body,"
		    " sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
		    &st);
	if (r < 0)
		return r;
	if ((r = db_bind_text(st, 1, mailbox)) < 0 ||
	    (r = db_bind_int(st, 2, from->id)) < 0 ||
	    (r = from->name ? db_bind_text(st, 3, from->name)
			    : db_bind_null(st, 3)) < 0 ||
	    (r = db_bind_textn(st, 4, body, len)) < 0 ||
	    (r = db_bind_int(st, 5, db_now_ms())) < 0)
		return r;
	r = db_run(st);
	if (r < 0)
		return r;
	h->total_messages++;
	h->batch_added++;
	*ret_id = db_last_rowid(h->db);
	return 0;
}

static json_t *message_json(sqlite3_stmt *st, int64_t now)
{
	const char *body = (const char *)sqlite3_column_text(st, 3);
	int64_t sent = sqlite3_column_int64(st, 4);
	json_t *msg, *o;

	msg = json_loads(body ? body : "null", JSON_DECODE_ANY, NULL);
	if (!msg)
		msg = json_null();
	o = json_pack(
		"{s:I, s:I, s:o, s:o, s:f, s:I}", "id",
		(json_int_t)sqlite3_column_int64(st, 0), "from",
		(json_int_t)sqlite3_column_int64(st, 1), "from_name",
		sqlite3_column_type(st, 2) == SQLITE_NULL
			? json_null()
			: json_string((const char *)sqlite3_column_text(st, 2)),
		"message", msg, "sent_at", (double)sent / 1000.0, "age_ms",
		(json_int_t)(now > sent ? now - sent : 0));
	return o;
}

static int mailbox_select(struct hub *h, const char *mailbox, unsigned max,
			  json_t *out, int64_t *ret_last)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t now = db_now_ms();
	int n = 0, r;

	r = db_stmt(h->db,
		    "SELECT id, from_id, from_name, body, sent_at FROM messages"
		    " WHERE mailbox = ?1 ORDER BY id LIMIT ?2",
		    &st);
	if (r < 0)
		return r;
	if ((r = db_bind_text(st, 1, mailbox)) < 0 ||
	    (r = db_bind_int(st, 2, max)) < 0)
		return r;
	while ((r = db_step(st)) > 0) {
		json_t *m = message_json(st, now);

		if (!m || json_array_append_new(out, m) < 0)
			return -ENOMEM;
		*ret_last = sqlite3_column_int64(st, 0);
		n++;
	}
	return r < 0 ? r : n;
}

int mailbox_take(struct hub *h, const char *mailbox, unsigned max, json_t *out)
{
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	int64_t last = 0;
	int n, r;

	r = db_begin(h->db);
	if (r < 0)
		return r;
	n = mailbox_select(h, mailbox, max, out, &last);
	if (n <= 0) {
		db_rollback(h->db);
		return n;
	}
	r = db_stmt(h->db,
		    "DELETE FROM messages WHERE mailbox = ?1 AND id <= ?2",
		    &del);
	if (r == 0 && (r = db_bind_text(del, 1, mailbox)) == 0 &&
	    (r = db_bind_int(del, 2, last)) == 0)
		r = db_run(del);
	if (r == 0)
		r = db_commit(h->db);
	if (r < 0) {
		db_rollback(h->db);
		json_array_clear(out);
		return r;
	}
	h->total_messages -= n;
	return n;
}

static int mailbox_exec2(struct hub *h, const char *sql, const char *a,
			 const char *b)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = db_stmt(h->db, sql, &st);

	if (r < 0)
		return r;
	if ((r = db_bind_text(st, 1, a)) < 0 ||
	    (b && (r = db_bind_text(st, 2, b)) < 0))
		return r;
	return db_run(st);
}

int mailbox_delete(struct hub *h, const char *mailbox)
{
	int r = mailbox_exec2(h, "DELETE FROM messages WHERE mailbox = ?1",
			      mailbox, NULL);

	if (r == 0)
		h->total_messages -= db_changes(h->db);
	return r;
}

int mailbox_rename(struct hub *h, const char *from, const char *to)
{
	return mailbox_exec2(
		h, "UPDATE messages SET mailbox = ?2 WHERE mailbox = ?1", from,
		to);
}

int mailbox_init(struct hub *h)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	/* Agents are not restarted with the kernel: a "#<id>" mailbox of the
	 * last run belongs to nobody alive now. */
	r = db_exec(h->db, "DELETE FROM messages WHERE mailbox LIKE '#%'");
	if (r < 0)
		return r;
	r = db_stmt(h->db, "SELECT count(*) FROM messages", &st);
	if (r < 0)
		return r;
	r = db_step(st);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	h->total_messages = sqlite3_column_int64(st, 0);
	return 0;
}

int mailbox_batch_begin(struct hub *h)
{
	h->batch_added = 0;
	return db_begin(h->db);
}

int mailbox_batch_end(struct hub *h, int r)
{
	if (r == 0)
		r = db_commit(h->db);
	else
		db_rollback(h->db);
	if (r < 0)
		h->total_messages -= h->batch_added;
	h->batch_added = 0;
	return r;
}
