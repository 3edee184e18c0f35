/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for kernel/db.c: a new database is created 0600 in WAL mode
 * and migrated to the latest schema; opening it again applies nothing; a
 * database from a newer kernel is refused; the statement cache hands out
 * reset statements; a rolled-back transaction leaves nothing behind.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/clove-test-db-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/clove.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct db *open_ok(const char *path)
{
	struct db *db = NULL;
	char err[256] = "";
	int r = db_open(path, &db, err, sizeof(err));

	if (r < 0)
		fail_msg("db_open: %d %s", r, err);
	return db;
}

static void test_create_and_migrate(void **state)
{
	struct fixture *f = *state;
	struct db *db = open_ok(f->path);
	sqlite3_stmt *st;
	struct stat sb;
	int v = -1;

	assert_int_equal(db_schema_version(db, &v), 0);
	assert_int_equal(v, db_schema_latest());
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(db_stmt(db, "PRAGMA journal_mode", &st), 0);
	assert_int_equal(db_step(st), 1);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	db_stmt_done(st);
	db_close(db);

	/* Again: nothing to apply, one row per version. */
	db = open_ok(f->path);
	assert_int_equal(
		db_stmt(db, "SELECT count(*) FROM schema_version", &st), 0);
	assert_int_equal(db_step(st), 1);
	assert_int_equal(sqlite3_column_int(st, 0), db_schema_latest());
	db_stmt_done(st);
	db_close(db);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct db *db = open_ok(f->path);
	char err[256] = "";

	assert_int_equal(db_exec(db, "INSERT INTO schema_version VALUES "
				     "(1000)"),
			 0);
	db_close(db);
	db = NULL;
	assert_int_equal(db_open(f->path, &db, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_null(db);
	assert_non_null(strstr(err, "1000"));
}

static void test_stmt_cache_and_rollback(void **state)
{
	static const char ins[] = "INSERT INTO t VALUES (?)";
	struct fixture *f = *state;
	struct db *db = open_ok(f->path);
	sqlite3_stmt *a, *b;

	assert_int_equal(db_exec(db, "CREATE TABLE t (x INTEGER)"), 0);
	assert_int_equal(db_stmt(db, ins, &a), 0);
	assert_int_equal(db_bind_int(a, 1, 7), 0);
	assert_int_equal(db_run(a), 0);
	db_stmt_done(a);
	/* Same statement again, bindings cleared. */
	assert_int_equal(db_stmt(db, ins, &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(db_run(b), 0);
	db_stmt_done(b);

	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_stmt(db, ins, &a), 0);
	assert_int_equal(db_bind_int(a, 1, 8), 0);
	assert_int_equal(db_run(a), 0);
	db_stmt_done(a);
	db_rollback(db);

	assert_int_equal(db_stmt(db, "SELECT count(*), sum(x) FROM t", &a), 0);
	assert_int_equal(db_step(a), 1);
	assert_int_equal(sqlite3_column_int(a, 0), 2);
	assert_int_equal(sqlite3_column_int(a, 1), 7);
	db_stmt_done(a);

	assert_int_equal(db_stmt(db, "SELECT nonsense FROM nowhere", &a),
			 -EINVAL);
	db_close(db);
}

static void test_errno_mapping(void **state)
{
	(void)state;
	assert_int_equal(db_errno(SQLITE_OK), 0);
	assert_int_equal(db_errno(SQLITE_DONE), 0);
	assert_int_equal(db_errno(SQLITE_FULL), -ENOSPC);
	assert_int_equal(db_errno(SQLITE_CONSTRAINT_UNIQUE), -EEXIST);
	assert_int_equal(db_errno(SQLITE_BUSY), -EBUSY);
	assert_int_equal(db_errno(SQLITE_IOERR_WRITE), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_migrate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stmt_cache_and_rollback,
						setup, teardown),
		cmocka_unit_test(test_errno_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
