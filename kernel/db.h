/* SPDX-License-Identifier: MIT */
/*
 * The kernel's one sqlite database, <state_dir>/clove.db: mailboxes, the
 * key-value store, the audit log and settings. Opened in WAL mode with
 * synchronous=NORMAL: a committed transaction survives a crash of cloved
 * (kill -9) because it is in the WAL file in the page cache, but not
 * necessarily a power loss. Schema changes are numbered migrations applied
 * in order at open (table schema_version).
 *
 * Statements are prepared once and cached by their SQL text's address
 * (pass string literals): db_stmt() hands out a reset statement, and the
 * caller resets it again with db_stmt_done() (or the cleanup helper) so no
 * read transaction stays open. Calls are synchronous and meant to be short
 * (indexed lookups, small transactions) — they run on the event loop.
 *
 * Errors: 0 or -errno; sqlite's result codes map through db_errno().
 * Nothing here logs: db_errmsg() says what sqlite reported last.
 */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

/* The schema version db_open() migrates to (the number of migrations). */
int db_schema_latest(void);

/*
 * Opens (creating if needed) the database at path, mode 0600, sets WAL and
 * synchronous=NORMAL, a busy timeout, foreign keys, and applies pending
 * migrations. On failure err says what failed. A database newer than this
 * kernel knows is refused (-EPROTONOSUPPORT).
 */
int db_open(const char *path, struct db **ret, char *err, size_t errlen);
/* Finalises cached statements and closes; NULL is a no-op. */
void db_close(struct db *db);

sqlite3 *db_handle(struct db *db);
const char *db_errmsg(struct db *db);
/* The schema version recorded in the database. */
int db_schema_version(struct db *db, int *ret);

/* -errno for a sqlite result code (SQLITE_OK -> 0). */
int db_errno(int rc);

/* Runs SQL without results (DDL, pragmas). */
int db_exec(struct db *db, const char *sql);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback never fails visibly). */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/*
 * The cached statement for sql (a string literal: cached by address and
 * text), reset and with bindings cleared. Borrowed; finish with
 * db_stmt_done(). -EINVAL when sql does not compile (a programmer error).
 */
int db_stmt(struct db *db, const char *sql, sqlite3_stmt **ret);
void db_stmt_done(sqlite3_stmt *st);
static inline void db_stmt_donep(sqlite3_stmt **st)
{
	if (*st)
		db_stmt_done(*st);
}
#define _cleanup_stmt_ __attribute__((cleanup(db_stmt_donep)))

/* Binding helpers; text is copied (SQLITE_TRANSIENT). */
int db_bind_text(sqlite3_stmt *st, int idx, const char *text);
int db_bind_textn(sqlite3_stmt *st, int idx, const char *text, size_t len);
int db_bind_int(sqlite3_stmt *st, int idx, int64_t v);
int db_bind_null(sqlite3_stmt *st, int idx);

/* sqlite3_step(): 1 for a row, 0 when done, -errno on failure. */
int db_step(sqlite3_stmt *st);
/* Steps a statement that returns no rows to completion. */
int db_run(sqlite3_stmt *st);

/* Rows changed by the last statement. */
int64_t db_changes(struct db *db);
int64_t db_last_rowid(struct db *db);

/* Wall-clock milliseconds since the epoch (what rows store as times). */
int64_t db_now_ms(void);
