/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for http-reply: how response header lines become header_list
 * and the joined headers object (repeats joined in order, folded lines
 * continued, bytes that are not UTF-8 replaced), and the bound on header
 * lines with the error it turns into. A server controls all of this, so
 * the bounds are tested exactly at the limit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "http-reply.h"

static int add(struct http_response *r, const char *line)
{
	return http_response_add_header(r, line, strlen(line));
}

static json_t *reply_of(const struct http_response *r)
{
	CURL *easy = curl_easy_init();
	json_t *reply;

	assert_non_null(easy);
	reply = http_reply_json(easy, r, "http://example.com/", 0, 0);
	curl_easy_cleanup(easy);
	assert_non_null(reply);
	return reply;
}

static const char *header(json_t *reply, const char *name)
{
	return json_string_value(
		json_object_get(json_object_get(reply, "headers"), name));
}

static void test_repeats_are_joined_in_order(void **state)
{
	struct http_response r;
	char line[32], *want = NULL;
	size_t want_len = 0;
	FILE *f = open_memstream(&want, &want_len);

	assert_int_equal(http_response_init(&r), 0);
	assert_int_equal(add(&r, "HTTP/1.1 200 OK\r\n"), 0);
	for (unsigned i = 0; i < HTTP_MAX_HEADER_LINES - 1; i++) {
		snprintf(line, sizeof(line), "x-a: %u\r\n", i);
		assert_int_equal(add(&r, line), 0);
		fprintf(f, "%s%u", i ? ", " : "", i);
	}
	fclose(f);
	assert_int_equal(add(&r, "X-Single: only\r\n"), 0);
	assert_int_equal(add(&r, "\r\n"), 0);

	json_t *reply = reply_of(&r);
	assert_string_equal(header(reply, "x-a"), want);
	assert_string_equal(header(reply, "x-single"), "only");
	assert_int_equal(json_array_size(json_object_get(reply, "header_list")),
			 HTTP_MAX_HEADER_LINES);
	json_decref(reply);
	free(want);
	http_response_done(&r);
}

static void test_folded_lines_continue_the_value(void **state)
{
	struct http_response r;

	assert_int_equal(http_response_init(&r), 0);
	assert_int_equal(add(&r, "HTTP/1.1 200 OK\r\n"), 0);
	assert_int_equal(add(&r, "X-F: a\r\n"), 0);
	assert_int_equal(add(&r, " b \r\n"), 0);
	assert_int_equal(add(&r, "\t\xff c\r\n"), 0);
	assert_int_equal(add(&r, "X-F: d\r\n"), 0);
	assert_int_equal(add(&r, " e\r\n"), 0);
	assert_int_equal(add(&r, "\r\n"), 0);

	json_t *list = json_pack("[[s, s], [s, s]]", "X-F",
				 "a b \xef\xbf\xbd c", "X-F", "d e");
	json_t *reply = reply_of(&r);
	assert_true(json_equal(json_object_get(reply, "header_list"), list));
	assert_string_equal(header(reply, "x-f"), "a b \xef\xbf\xbd c, d e");
	json_decref(list);
	json_decref(reply);
	http_response_done(&r);
}

static void test_too_many_lines_are_emsgsize(void **state)
{
	struct http_response r;
	struct http_error e;

	assert_int_equal(http_response_init(&r), 0);
	assert_int_equal(add(&r, "HTTP/1.1 200 OK\r\n"), 0);
	assert_int_equal(add(&r, "X-F: a\r\n"), 0);
	/* Folded lines count: they cost as much as headers. */
	for (unsigned i = 1; i < HTTP_MAX_HEADER_LINES; i++)
		assert_int_equal(add(&r, " a\r\n"), 0);
	assert_int_equal(add(&r, " a\r\n"), -EMSGSIZE);
	http_error_of(NULL, CURLE_WRITE_ERROR, "", &r, &e);
	assert_int_equal(e.err, -EMSGSIZE);
	assert_non_null(strstr(e.msg, "more than 1000 header lines"));
	http_response_done(&r);
}

static void test_a_new_block_starts_the_count_again(void **state)
{
	struct http_response r;

	assert_int_equal(http_response_init(&r), 0);
	assert_int_equal(add(&r, "HTTP/1.1 100 Continue\r\n"), 0);
	for (unsigned i = 0; i < HTTP_MAX_HEADER_LINES; i++)
		assert_int_equal(add(&r, "X-Early: 1\r\n"), 0);
	assert_int_equal(add(&r, "\r\n"), 0);
	assert_int_equal(add(&r, "HTTP/1.1 200 OK\r\n"), 0);
	for (unsigned i = 0; i < HTTP_MAX_HEADER_LINES; i++)
		assert_int_equal(add(&r, "X-Late: 2\r\n"), 0);
	assert_int_equal(add(&r, "\r\n"), 0);

	json_t *reply = reply_of(&r);
	assert_null(header(reply, "x-early"));
	assert_int_equal(json_array_size(json_object_get(reply, "header_list")),
			 HTTP_MAX_HEADER_LINES);
	json_decref(reply);

	/* A reset (the next redirect hop) forgets the count and the limit. */
	assert_int_equal(add(&r, "X-Late: 3\r\n"), -EMSGSIZE);
	http_response_reset(&r);
	assert_false(r.too_many_headers);
	assert_int_equal(add(&r, "HTTP/1.1 200 OK\r\n"), 0);
	assert_int_equal(add(&r, "X-Next: 1\r\n"), 0);
	http_response_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeats_are_joined_in_order),
		cmocka_unit_test(test_folded_lines_continue_the_value),
		cmocka_unit_test(test_too_many_lines_are_emsgsize),
		cmocka_unit_test(test_a_new_block_starts_the_count_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
