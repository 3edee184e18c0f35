/* SPDX-License-Identifier: MIT */
/*
 * The sqlite database of the kernel: opening it in WAL mode, the numbered
 * migrations that build its schema, a small cache of prepared statements,
 * and transaction and binding helpers. One connection, used only from the
 * loop's thread, so sqlite is opened without its own mutexes.
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "macro.h"

/* Enough for every statement the kernel uses; more is a programmer error
 * that db_stmt() reports as -E2BIG. */
#define DB_STMT_CACHE 128

struct db_cached {
	const char *sql;
	sqlite3_stmt *st;
};

struct db {
	sqlite3 *h;
	unsigned ncached;
	struct db_cached cache[DB_STMT_CACHE];
};

/*
 * Migration n (1-based) brings the schema from version n-1 to n. Never
 * edit one that has shipped; append a new one.
 */
static const char *const migrations[] = {
	/* 1: durable mailboxes. */
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  mailbox TEXT NOT NULL,"
	"  from_id INTEGER NOT NULL,"
	"  from_name TEXT,"
	"  body TEXT NOT NULL,"
	"  sent_at INTEGER NOT NULL);"
	"CREATE INDEX messages_mailbox ON messages(mailbox, id);",
	/* 2: the key-value store, with per-owner counts kept by triggers so
	 * the limits cost one lookup, and settings (kv_revision: the floor of
	 * versions, kept across deletions so no version is ever reused). */
	"CREATE TABLE kv ("
	"  scope TEXT NOT NULL,"
	"  owner TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  expires_at INTEGER,"
	"  persist INTEGER NOT NULL DEFAULT 0,"
	"  updated_at INTEGER NOT NULL,"
	"  updated_by INTEGER NOT NULL,"
	"  PRIMARY KEY (scope, owner, key)) WITHOUT ROWID;"
	"CREATE INDEX kv_expires ON kv(expires_at) WHERE expires_at IS NOT NULL;"
	"CREATE TABLE kv_counts ("
	"  scope TEXT NOT NULL,"
	"  owner TEXT NOT NULL,"
	"  n INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  PRIMARY KEY (scope, owner)) WITHOUT ROWID;"
	"CREATE TRIGGER kv_counts_ins AFTER INSERT ON kv BEGIN"
	"  INSERT INTO kv_counts VALUES (NEW.scope, NEW.owner, 1,"
	"    length(CAST(NEW.value AS BLOB)))"
	"  ON CONFLICT DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;"
	"END;"
	"CREATE TRIGGER kv_counts_del AFTER DELETE ON kv BEGIN"
	"  UPDATE kv_counts SET n = n - 1,"
	"    bytes = bytes - length(CAST(OLD.value AS BLOB))"
	"  WHERE scope = OLD.scope AND owner = OLD.owner;"
	"END;"
	"CREATE TRIGGER kv_counts_upd AFTER UPDATE OF value ON kv"
	"  WHEN NEW.owner = OLD.owner BEGIN"
	"  UPDATE kv_counts SET bytes = bytes"
	"    + length(CAST(NEW.value AS BLOB)) - length(CAST(OLD.value AS BLOB))"
	"  WHERE scope = NEW.scope AND owner = NEW.owner;"
	"END;"
	"CREATE TRIGGER kv_counts_own AFTER UPDATE OF owner ON kv"
	"  WHEN NEW.owner <> OLD.owner BEGIN"
	"  UPDATE kv_counts SET n = n - 1,"
	"    bytes = bytes - length(CAST(OLD.value AS BLOB))"
	"  WHERE scope = OLD.scope AND owner = OLD.owner;"
	"  INSERT INTO kv_counts VALUES (NEW.scope, NEW.owner, 1,"
	"    length(CAST(NEW.value AS BLOB)))"
	"  ON CONFLICT DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;"
	"END;"
	"CREATE TABLE settings ("
	"  name TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL) WITHOUT ROWID;",
	/* 3: the audit log. ts is epoch ms; agent_id is whom the entry is
	 * about, caller_id who acted (0: the kernel itself). */
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  category TEXT NOT NULL,"
	"  event_type TEXT NOT NULL,"
	"  agent_id INTEGER NOT NULL,"
	"  agent_name TEXT,"
	"  caller_id INTEGER NOT NULL,"
	"  caller_role TEXT NOT NULL,"
	"  caller_uid INTEGER,"
	"  success INTEGER NOT NULL,"
	"  details TEXT NOT NULL);"
	"CREATE INDEX audit_category ON audit(category, id);"
	"CREATE INDEX audit_agent ON audit(agent_id, id);"
	"CREATE INDEX audit_caller ON audit(caller_id, id);"
	"CREATE INDEX audit_ts ON audit(ts);",
};

int db_schema_latest(void)
{
	return (int)ELEMENTSOF(migrations);
}

int db_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_MISUSE:
	case SQLITE_RANGE:
	case SQLITE_ERROR:
		return -EINVAL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

sqlite3 *db_handle(struct db *db)
{
	return db->h;
}

const char *db_errmsg(struct db *db)
{
	return db && db->h ? sqlite3_errmsg(db->h) : "no database";
}

int db_exec(struct db *db, const char *sql)
{
	return db_errno(sqlite3_exec(db->h, sql, NULL, NULL, NULL));
}

/* BEGIN and COMMIT run around every durable change: prepared once, they
 * skip sqlite's parser on the hot path of SEND, RECV and STORE. */
static int db_step_cached(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int r = db_stmt(db, sql, &st), rc;

	if (r < 0)
		return db_exec(db, sql);
	rc = sqlite3_step(st);
	db_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int db_begin(struct db *db)
{
	return db_step_cached(db, "BEGIN IMMEDIATE");
}

int db_commit(struct db *db)
{
	int r = db_step_cached(db, "COMMIT");

	if (r < 0)
		db_rollback(db);
	return r;
}

void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int db_stmt(struct db *db, const char *sql, sqlite3_stmt **ret)
{
	struct db_cached *c;
	int rc;

	/* By address first: callers pass literals, so this nearly always
	 * hits; the text comparison catches a literal the compiler did not
	 * merge. */
	for (unsigned i = 0; i < db->ncached; i++)
		if (db->cache[i].sql == sql) {
			c = &db->cache[i];
			goto hit;
		}
	for (unsigned i = 0; i < db->ncached; i++)
		if (strcmp(db->cache[i].sql, sql) == 0) {
			c = &db->cache[i];
			goto hit;
		}
	if (db->ncached == DB_STMT_CACHE)
		return -E2BIG;
	c = &db->cache[db->ncached];
	rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT,
				&c->st, NULL);
	if (rc != SQLITE_OK)
		return db_errno(rc);
	c->sql = sql;
	db->ncached++;
	*ret = c->st;
	return 0;
hit:
	sqlite3_reset(c->st);
	sqlite3_clear_bindings(c->st);
	*ret = c->st;
	return 0;
}

void db_stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
}

int db_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
	return db_errno(sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT));
}

int db_bind_textn(sqlite3_stmt *st, int idx, const char *text, size_t len)
{
	if (len > INT32_MAX)
		return -E2BIG;
	return db_errno(
		sqlite3_bind_text(st, idx, text, (int)len, SQLITE_TRANSIENT));
}

int db_bind_int(sqlite3_stmt *st, int idx, int64_t v)
{
	return db_errno(sqlite3_bind_int64(st, idx, v));
}

int db_bind_null(sqlite3_stmt *st, int idx)
{
	return db_errno(sqlite3_bind_null(st, idx));
}

int db_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_errno(rc);
}

int db_run(sqlite3_stmt *st)
{
	int r;

	while ((r = db_step(st)) > 0)
		;
	return r;
}

int64_t db_changes(struct db *db)
{
	return sqlite3_changes64(db->h);
}

int64_t db_last_rowid(struct db *db)
{
	return sqlite3_last_insert_rowid(db->h);
}

int64_t db_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int db_schema_version(struct db *db, int *ret)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = db_stmt(db, "SELECT max(version) FROM schema_version", &st);
	if (r < 0)
		return r;
	r = db_step(st);
	if (r > 0) {
		*ret = sqlite3_column_int(st, 0);
		r = 0;
	} else if (r == 0) {
		r = -EBADMSG;
	}
	db_stmt_done(st);
	return r;
}

static int db_apply(struct db *db, int version, char *err, size_t errlen)
{
	char sql[64];
	int r = db_begin(db);

	if (r == 0)
		r = db_exec(db, migrations[version - 1]);
	if (r == 0) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO schema_version VALUES (%d)", version);
		r = db_exec(db, sql);
	}
	if (r == 0)
		r = db_commit(db);
	if (r < 0) {
		snprintf(err, errlen, "schema migration %d: %s", version,
			 db_errmsg(db));
		db_rollback(db);
	}
	return r;
}

static int db_migrate(struct db *db, char *err, size_t errlen)
{
	int have = 0, r;

	r = db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version ("
			"version INTEGER NOT NULL)");
	if (r == 0)
		r = db_schema_version(db, &have);
	if (r < 0) {
		snprintf(err, errlen, "reading the schema version: %s",
			 db_errmsg(db));
		return r;
	}
	if (have > db_schema_latest()) {
		snprintf(err, errlen,
			 "the database has schema version %d; this kernel "
			 "knows up to %d (a newer cloved wrote it)",
			 have, db_schema_latest());
		return -EPROTONOSUPPORT;
	}
	for (int v = have + 1; v <= db_schema_latest(); v++) {
		r = db_apply(db, v, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static int db_configure(struct db *db, char *err, size_t errlen)
{
	/* WAL + NORMAL: commits are not fsynced, but a committed
	 * transaction is in the WAL before COMMIT returns, so it survives
	 * the process dying; only a power loss may take the last ones.
	 * sqlite checkpoints (and fsyncs) every 1000 WAL pages, on this
	 * thread: a checkpoint on a background thread was tried, and lost
	 * more throughput (the WAL never restarts under steady writes)
	 * than it won in tail latency on these 2-core machines. */
	static const char pragmas[] = "PRAGMA journal_mode=WAL;"
				      "PRAGMA synchronous=NORMAL;"
				      "PRAGMA foreign_keys=ON;"
				      "PRAGMA journal_size_limit=67108864;"
				      "PRAGMA temp_store=MEMORY;";
	int r;

	/* Only this connection writes; a brief wait covers someone
	 * inspecting the file with the sqlite3 tool. */
	sqlite3_busy_timeout(db->h, 100);
	r = db_exec(db, pragmas);
	if (r < 0)
		snprintf(err, errlen, "setting up the database: %s",
			 db_errmsg(db));
	return r;
}

/* The file is created 0600 before sqlite opens it: messages and keys are
 * the agents' private data. O_CLOEXEC for it; sqlite opens its own fds
 * with O_CLOEXEC as well. */
static int db_create_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0) {
		int r = negative_errno();
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	close(fd);
	return 0;
}

int db_open(const char *path, struct db **ret, char *err, size_t errlen)
{
	struct db *db;
	int r, rc;

	r = db_create_file(path, err, errlen);
	if (r < 0)
		return r;
	db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &db->h,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		r = db_errno(rc);
		snprintf(err, errlen, "cannot open %s: %s", path,
			 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		db_close(db);
		return r;
	}
	r = db_configure(db, err, errlen);
	if (r == 0)
		r = db_migrate(db, err, errlen);
	if (r < 0) {
		db_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (unsigned i = 0; i < db->ncached; i++)
		sqlite3_finalize(db->cache[i].st);
	if (db->h)
		sqlite3_close(db->h);
	free(db);
}
