/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the clove CLI's pure helpers: argument parsers (args.c),
 * formatting and tables (output.c) and the log tail scan (tail.c). They
 * need no kernel; files are memfds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "args.h"
#include "output.h"
#include "tail.h"

static void test_selector(void **state)
{
	struct args_selector sel = { .id = 99 };

	assert_int_equal(args_parse_selector("42", &sel), 0);
	assert_true(sel.by_id);
	assert_int_equal(sel.id, 42);
	assert_int_equal(args_parse_selector("007", &sel), 0);
	assert_int_equal(sel.id, 7);
	assert_int_equal(args_parse_selector("0", &sel), 0);
	assert_int_equal(sel.id, 0);
	assert_int_equal(args_parse_selector("4294967295", &sel), 0);
	assert_int_equal(sel.id, UINT32_MAX);

	/* Not all digits: a name, whatever it looks like. */
	const char *names[] = { "worker", "12a", "-5", "+5", " 5", "5 " };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(args_parse_selector(names[i], &sel), 0);
		assert_false(sel.by_id);
		assert_string_equal(sel.name, names[i]);
	}

	sel = (struct args_selector){ .by_id = true, .id = 5 };
	assert_int_equal(args_parse_selector("4294967296", &sel), -ERANGE);
	assert_int_equal(args_parse_selector("", &sel), -EINVAL);
	assert_int_equal(args_parse_selector(NULL, &sel), -EINVAL);
	assert_true(sel.by_id);
	assert_int_equal(sel.id, 5); /* untouched on failure */
}

static void test_selector_json(void **state)
{
	struct args_selector sel;
	json_t *obj = json_object();

	assert_int_equal(args_parse_selector("17", &sel), 0);
	assert_int_equal(args_selector_to_json(&sel, obj), 0);
	char *s = json_dumps(obj, JSON_COMPACT);
	assert_string_equal(s, "{\"id\":17}");
	free(s);
	json_decref(obj);

	obj = json_object();
	assert_int_equal(args_parse_selector("w-1", &sel), 0);
	assert_int_equal(args_selector_to_json(&sel, obj), 0);
	s = json_dumps(obj, JSON_COMPACT);
	assert_string_equal(s, "{\"name\":\"w-1\"}");
	free(s);
	json_decref(obj);
}

static void test_uint(void **state)
{
	uint64_t v = 7;

	assert_int_equal(args_parse_uint("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(args_parse_uint("123", 1000, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(args_parse_uint("1000", 1000, &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(
		args_parse_uint("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);

	v = 7;
	assert_int_equal(args_parse_uint("1001", 1000, &v), -ERANGE);
	assert_int_equal(args_parse_uint("5", 0, &v), -ERANGE);
	assert_int_equal(
		args_parse_uint("18446744073709551616", UINT64_MAX, &v),
		-ERANGE);
	const char *bad[] = {
		"", "-1", "+1", " 1", "1 ", "0x10", "1.0", "1e3"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(args_parse_uint(bad[i], UINT64_MAX, &v),
				 -EINVAL);
	assert_int_equal(args_parse_uint(NULL, 10, &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void test_duration(void **state)
{
	static const struct {
		const char *in;
		uint64_t ms;
	} good[] = {
		{ "5", 5000 },	       { "0", 0 },	 { "0.5", 500 },
		{ ".5", 500 },	       { "5.", 5000 },	 { "1.5s", 1500 },
		{ "250ms", 250 },      { "2m", 120000 }, { "1h", 3600000 },
		{ "0.0004", 0 },       { "0.0006", 1 },	 { "0ms", 0 },
		{ "86400", 86400000 },
	};
	uint64_t ms = 42;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(args_parse_duration(good[i].in, 86400000, &ms),
				 0);
		assert_int_equal(ms, good[i].ms);
	}
	ms = 42;
	const char *bad[] = { "",    "s",  "-1",  "1..2", "5x", "5 s",
			      "1e3", " 5", "0x5", ".",	  "ms", "5S" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(args_parse_duration(bad[i], 86400000, &ms),
				 -EINVAL);
	assert_int_equal(args_parse_duration("86401", 86400000, &ms), -ERANGE);
	assert_int_equal(args_parse_duration("25h", 86400000, &ms), -ERANGE);
	assert_int_equal(args_parse_duration("99999999999999999999999999999999",
					     1000, &ms),
			 -ERANGE);
	assert_int_equal(args_parse_duration(NULL, 1000, &ms), -EINVAL);
	assert_int_equal(ms, 42);
}

static void test_size(void **state)
{
	static const struct {
		const char *in;
		uint64_t bytes;
	} good[] = {
		{ "268435456", 268435456 },
		{ "256M", 256ULL << 20 },
		{ "256m", 256ULL << 20 },
		{ "512K", 512ULL << 10 },
		{ "1G", 1ULL << 30 },
		{ "1GiB", 1ULL << 30 },
		{ "2GB", 2ULL << 30 },
		{ "1T", 1ULL << 40 },
		{ "0", 0 },
		{ "64Mib", 64ULL << 20 },
	};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(args_parse_size(good[i].in, INT64_MAX, &v), 0);
		assert_int_equal(v, good[i].bytes);
	}
	v = 42;
	const char *bad[] = { "",   "M",     "-1",   "1.5G", "256 M", "256X",
			      "1E", "256MM", "0x10", " 5",   "5MiBs", NULL };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(args_parse_size(bad[i], INT64_MAX, &v),
				 -EINVAL);
	assert_int_equal(args_parse_size("9P", INT64_MAX, &v), -EINVAL);
	assert_int_equal(args_parse_size("8388608T", INT64_MAX, &v), -ERANGE);
	assert_int_equal(args_parse_size("2G", 1ULL << 30, &v), -ERANGE);
	assert_int_equal(
		args_parse_size("99999999999999999999999", INT64_MAX, &v),
		-ERANGE);
	assert_int_equal(v, 42);
}

static void test_cpus(void **state)
{
	static const struct {
		const char *in;
		uint64_t quota;
	} good[] = {
		{ "0.5", 50000 }, { "1", 100000 },	 { "2", 200000 },
		{ ".25", 25000 }, { "0.2", 20000 },	 { "1.5", 150000 },
		{ "0.00001", 1 }, { "4096", 409600000 },
	};
	uint64_t q = 42;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(args_parse_cpus(good[i].in, 100000, 4096, &q),
				 0);
		assert_int_equal(q, good[i].quota);
	}
	q = 42;
	const char *bad[] = { "",    "0", "-1",	      "0.5x", "1..2", "x",
			      "1e2", ".", "0.000001", " 1",   NULL };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(args_parse_cpus(bad[i], 100000, 4096, &q),
				 -EINVAL);
	assert_int_equal(args_parse_cpus("4097", 100000, 4096, &q), -ERANGE);
	assert_int_equal(q, 42);
}

static void test_env(void **state)
{
	size_t len = 99;

	assert_int_equal(args_parse_env("K=V", &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(args_parse_env("KEY=", &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(args_parse_env("_A1=x=y", &len), 0);
	assert_int_equal(len, 3);

	len = 99;
	const char *bad[] = { "=V", "K", "", "1K=V", "K-1=V", "K V=1", "é=1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(args_parse_env(bad[i], &len), -EINVAL);
	assert_int_equal(args_parse_env(NULL, &len), -EINVAL);
	assert_int_equal(len, 99);
}

static void test_env_json(void **state)
{
	json_t *env = json_object();

	assert_int_equal(args_env_to_json("A=1", env), 0);
	assert_int_equal(args_env_to_json("B=x=y", env), 0);
	assert_int_equal(args_env_to_json("C=", env), 0);
	assert_int_equal(args_env_to_json("A=2", env), 0); /* last wins */
	assert_int_equal(args_env_to_json("bad", env), -EINVAL);
	assert_int_equal(args_env_to_json("D=\xff", env), -EINVAL);
	char *s = json_dumps(env, JSON_COMPACT);
	assert_string_equal(s, "{\"A\":\"2\",\"B\":\"x=y\",\"C\":\"\"}");
	free(s);
	json_decref(env);
}

static void test_checks(void **state)
{
	assert_int_equal(args_check_restart_policy("never"), 0);
	assert_int_equal(args_check_restart_policy("always"), 0);
	assert_int_equal(args_check_restart_policy("on-failure"), 0);
	assert_int_equal(args_check_restart_policy("on_failure"), -EINVAL);
	assert_int_equal(args_check_restart_policy("Never"), -EINVAL);
	assert_int_equal(args_check_restart_policy(""), -EINVAL);
	assert_int_equal(args_check_restart_policy(NULL), -EINVAL);

	char name[66];
	memset(name, 'a', sizeof(name));
	name[64] = '\0';
	assert_int_equal(args_check_agent_name(name), 0);
	name[64] = 'a';
	name[65] = '\0';
	assert_int_equal(args_check_agent_name(name), -EINVAL);
	assert_int_equal(args_check_agent_name("worker-1.v2_x"), 0);
	assert_int_equal(args_check_agent_name("a"), 0);
	assert_int_equal(args_check_agent_name(""), -EINVAL);
	assert_int_equal(args_check_agent_name("a b"), -EINVAL);
	assert_int_equal(args_check_agent_name("a/b"), -EINVAL);
	assert_int_equal(args_check_agent_name(NULL), -EINVAL);
}

static void test_format(void **state)
{
	static const struct {
		uint64_t ms;
		const char *text;
	} cases[] = {
		{ 0, "0ms" },	       { 850, "850ms" },
		{ 1000, "1s" },	       { 59999, "59s" },
		{ 60000, "1m00s" },    { 192000, "3m12s" },
		{ 3600000, "1h00m" },  { 7500000, "2h05m" },
		{ 86400000, "1d00h" }, { 273600000, "3d04h" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		output_format_duration(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
	output_format_signal(15, buf, sizeof(buf));
	assert_string_equal(buf, "SIGTERM");
	output_format_signal(9, buf, sizeof(buf));
	assert_string_equal(buf, "SIGKILL");
	output_format_signal(0, buf, sizeof(buf));
	assert_string_equal(buf, "SIG0");
	output_format_signal(200, buf, sizeof(buf));
	assert_string_equal(buf, "SIG200");
}

static void test_table(void **state)
{
	static const char *const headers[] = { "ID", "NAME", "STATE" };
	static const char *const row1[] = { "1", "a-long-name", "running" };
	static const char *const row2[] = { "12", NULL, "exited" };
	struct output_table *t;
	char *text;
	size_t len;

	assert_int_equal(output_table_new(headers, 0, &t), -EINVAL);
	assert_int_equal(output_table_new(headers, 3, &t), 0);
	assert_int_equal(output_table_rows(t), 0);
	for (int i = 0; i < 10; i++) /* grows past the first allocation */
		assert_int_equal(output_table_add_row(t, i ? row2 : row1), 0);
	assert_int_equal(output_table_rows(t), 10);

	FILE *f = open_memstream(&text, &len);
	output_table_print(t, f);
	fclose(f);
	const char *expect = "ID  NAME         STATE\n"
			     "1   a-long-name  running\n"
			     "12  -            exited\n";
	assert_int_equal(strncmp(text, expect, strlen(expect)), 0);
	assert_int_equal(len, strlen(expect) +
				      8 * strlen("12  -            exited\n"));
	free(text);
	output_table_free(t);
	output_table_free(NULL);
}

/* A memfd holding text, for the tail helpers. */
static int memfd_with(const char *text, size_t len)
{
	int fd = memfd_create("tail", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	return fd;
}

static uint64_t start_of(const char *text, uint64_t lines)
{
	size_t len = strlen(text);
	int fd = memfd_with(text, len);
	uint64_t off = 12345;

	assert_int_equal(tail_find_start(fd, len, lines, &off), 0);
	close(fd);
	return off;
}

static void test_tail_small(void **state)
{
	const char *t = "a\nbb\nccc\n";

	assert_int_equal(start_of(t, 0), 9);
	assert_int_equal(start_of(t, 1), 5);
	assert_int_equal(start_of(t, 2), 2);
	assert_int_equal(start_of(t, 3), 0);
	assert_int_equal(start_of(t, 4), 0);
	assert_int_equal(start_of(t, UINT64_MAX), 0);
	/* No final newline: the partial line is a line. */
	assert_int_equal(start_of("a\nbb", 1), 2);
	assert_int_equal(start_of("a\nbb", 2), 0);
	assert_int_equal(start_of("", 3), 0);
	assert_int_equal(start_of("\n", 1), 0);
	assert_int_equal(start_of("\n\n\n", 2), 1);
	assert_int_equal(start_of("x\n\n", 1), 2);

	uint64_t need = 2;
	size_t pos = 77;
	assert_false(tail_scan("abc", 3, &need, &pos));
	assert_int_equal(need, 2);
	assert_false(tail_scan("a\nb", 3, &need, &pos));
	assert_int_equal(need, 1);
	assert_true(tail_scan("x\ny\n", 4, &need, &pos));
	assert_int_equal(pos, 4);
	assert_int_equal(need, 0);
}

/* Lines crossing the 64 KiB windows of the backwards scan. */
static void test_tail_large(void **state)
{
	const size_t nlines = 50000;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	for (size_t i = 0; i < nlines; i++)
		fprintf(f, "line %zu %.*s\n", i, (int)(i % 13),
			"xxxxxxxxxxxxx");
	fclose(f);
	int fd = memfd_with(text, len);

	for (uint64_t n = 1; n < nlines; n = n * 3 + 1) {
		uint64_t off;
		char expect[64];
		assert_int_equal(tail_find_start(fd, len, n, &off), 0);
		snprintf(expect, sizeof(expect), "line %zu ",
			 nlines - (size_t)n);
		assert_int_equal(strncmp(text + off, expect, strlen(expect)),
				 0);
		assert_true(off == 0 || text[off - 1] == '\n');
	}

	/* tail_copy from an offset copies the rest and advances it. */
	char *out = NULL;
	size_t out_len = 0;
	uint64_t off = len - 100;
	f = open_memstream(&out, &out_len);
	assert_int_equal(tail_copy(fd, &off, f), 0);
	fclose(f);
	assert_int_equal(off, len);
	assert_int_equal(out_len, 100);
	assert_memory_equal(out, text + len - 100, 100);
	free(out);
	close(fd);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector),
		cmocka_unit_test(test_selector_json),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_env_json),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_tail_small),
		cmocka_unit_test(test_tail_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
