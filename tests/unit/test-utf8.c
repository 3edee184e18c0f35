/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the UTF-8 validator and sanitizer: the boundaries of
 * every sequence length, the forms jansson refuses (overlong, surrogates,
 * past U+10FFFF, truncated), and U+FFFD replacement of maximal subparts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define VALID(s)   assert_true(utf8_valid(s, sizeof(s) - 1))
#define INVALID(s) assert_false(utf8_valid(s, sizeof(s) - 1))

static void test_valid(void **state)
{
	VALID("");
	VALID("plain ascii\n");
	VALID("a\0b");		   /* NUL is a valid character */
	VALID("\xC2\x80");	   /* U+0080 */
	VALID("\xDF\xBF");	   /* U+07FF */
	VALID("\xE0\xA0\x80");	   /* U+0800 */
	VALID("\xED\x9F\xBF");	   /* U+D7FF, below the surrogates */
	VALID("\xEE\x80\x80");	   /* U+E000, above them */
	VALID("\xEF\xBF\xBD");	   /* U+FFFD */
	VALID("\xF0\x90\x80\x80"); /* U+10000 */
	VALID("\xF4\x8F\xBF\xBF"); /* U+10FFFF */
	VALID("h\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC \xF0\x9F\x98\x80");
}

static void test_invalid(void **state)
{
	INVALID("\x80");	     /* lone continuation */
	INVALID("\xC0\x80");	     /* overlong NUL */
	INVALID("\xC1\xBF");	     /* overlong */
	INVALID("\xE0\x9F\xBF");     /* overlong 3-byte */
	INVALID("\xED\xA0\x80");     /* U+D800 surrogate */
	INVALID("\xED\xBF\xBF");     /* U+DFFF surrogate */
	INVALID("\xF0\x8F\xBF\xBF"); /* overlong 4-byte */
	INVALID("\xF4\x90\x80\x80"); /* U+110000 */
	INVALID("\xF5\x80\x80\x80");
	INVALID("\xFF");
	INVALID("\xC3"); /* truncated at the end */
	INVALID("\xE2\x82");
	INVALID("ok\xE2\x82 then"); /* truncated in the middle */
}

static void sanitizes_to(const char *in, size_t len, const char *expect)
{
	char *out = NULL;
	size_t n = 0;

	assert_int_equal(utf8_sanitize(in, len, &out, &n), 0);
	assert_int_equal(n, strlen(expect));
	assert_memory_equal(out, expect, n);
	assert_int_equal(out[n], '\0');
	assert_true(utf8_valid(out, n));
	free(out);
}

#define SANITIZES(in, expect) sanitizes_to(in, sizeof(in) - 1, expect)
#define R		      "\xEF\xBF\xBD"

static void test_sanitize(void **state)
{
	SANITIZES("", "");
	SANITIZES("caf\xC3\xA9", "caf\xC3\xA9");
	SANITIZES("a\xFF"
		  "b",
		  "a" R "b");
	/* A truncated sequence is one maximal subpart: one replacement. */
	SANITIZES("a\xE2\x82"
		  "b",
		  "a" R "b");
	SANITIZES("\xF0\x9F\x98", R);
	/* Bytes that can never start a sequence are replaced one by one. */
	SANITIZES("\xC0\x80", R R);
	SANITIZES("\xED\xA0\x80", R R R);
	SANITIZES("\x80\x80x", R R "x");
	SANITIZES("\xF4\x90\x80\x80", R R R R);
}

static void test_json_prefix(void **state)
{
	size_t esc;

	/* Plain text costs one byte a byte. */
	assert_int_equal(utf8_json_prefix("hello", 5, 100, &esc), 5);
	assert_int_equal(esc, 5);
	/* Quotes, backslashes and \n cost 2; other control bytes 6. */
	assert_int_equal(utf8_json_prefix("a\"\\\n", 4, 100, &esc), 4);
	assert_int_equal(esc, 7);
	assert_int_equal(utf8_json_prefix("\x01\x02", 2, 100, &esc), 2);
	assert_int_equal(esc, 12);
	/* The budget cuts, and never inside a multi-byte character. */
	assert_int_equal(utf8_json_prefix("\x01\x02", 2, 11, &esc), 1);
	assert_int_equal(esc, 6);
	assert_int_equal(utf8_json_prefix("a\xc3\xa9" "b", 4, 2, &esc), 1);
	assert_int_equal(esc, 1);
	assert_int_equal(utf8_json_prefix("a\xc3\xa9" "b", 4, 3, &esc), 3);
	assert_int_equal(utf8_json_prefix("", 0, 0, &esc), 0);
	assert_int_equal(esc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_json_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
