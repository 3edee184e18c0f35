/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for base64: the RFC 4648 test vectors both ways, round trips
 * of every length around a group boundary with all byte values, and the
 * inputs the decoder must refuse or tolerate.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static const struct {
	const char *plain;
	const char *encoded;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_encode_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char *out = NULL;
		size_t n = 0;
		size_t len = strlen(vectors[i].plain);

		assert_int_equal(base64_encode(vectors[i].plain, len, &out, &n),
				 0);
		assert_string_equal(out, vectors[i].encoded);
		assert_int_equal(n, strlen(vectors[i].encoded));
		assert_int_equal(n, base64_encoded_size(len));
		free(out);
	}
}

static void test_decode_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		void *out = NULL;
		size_t n = 99;
		const char *e = vectors[i].encoded;

		assert_int_equal(base64_decode(e, strlen(e), &out, &n), 0);
		assert_non_null(out);
		assert_int_equal(n, strlen(vectors[i].plain));
		assert_memory_equal(out, vectors[i].plain, n);
		free(out);
	}
}

static void test_round_trip_binary(void **state)
{
	uint8_t data[300];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(data); len++) {
		char *enc = NULL;
		void *dec = NULL;
		size_t elen = 0, dlen = 0;

		assert_int_equal(base64_encode(data, len, &enc, &elen), 0);
		assert_int_equal(base64_decode(enc, elen, &dec, &dlen), 0);
		assert_int_equal(dlen, len);
		assert_memory_equal(dec, data, len);
		free(enc);
		free(dec);
	}
}

static void decodes_to(const char *in, const char *expect)
{
	void *out = NULL;
	size_t n = 0;

	assert_int_equal(base64_decode(in, strlen(in), &out, &n), 0);
	assert_int_equal(n, strlen(expect));
	assert_memory_equal(out, expect, n);
	free(out);
}

static void test_decode_tolerant(void **state)
{
	decodes_to("Zg", "f");
	decodes_to("Zm8", "fo");
	decodes_to("Zm9v\nYmFy\r\n", "foobar");
	decodes_to("  Zm 9v Yg = = ", "foob");
	decodes_to("+/+/", "\xfb\xff\xbf");
}

static void rejects(const char *in)
{
	void *out = (void *)1;
	size_t n = 7;

	assert_int_equal(base64_decode(in, strlen(in), &out, &n), -EINVAL);
	/* Out-parameters stay untouched on failure. */
	assert_ptr_equal(out, (void *)1);
	assert_int_equal(n, 7);
}

static void test_decode_invalid(void **state)
{
	rejects("Z");	     /* a lone character */
	rejects("Zm9vY");    /* a lone character after a full group */
	rejects("Zm9v!");    /* outside the alphabet */
	rejects("Zm-_");     /* the URL-safe alphabet is not accepted */
	rejects("Zg==Zg=="); /* data after padding */
	rejects("Z=g=");     /* padding inside a group */
	rejects("Zm9v=");    /* padding after a complete group */
	rejects("Zg=");	     /* incomplete padding */
	rejects("Zm8==");    /* too much padding */
	rejects("Zg===");
}

static void test_decode_embedded_nul(void **state)
{
	void *out = NULL;
	size_t n = 0;

	/* The length, not a NUL, ends the input. */
	assert_int_equal(base64_decode("Zg\0=", 4, &out, &n), -EINVAL);
	assert_int_equal(base64_decode("AAAA", 4, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\0\0\0", 3);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_vectors),
		cmocka_unit_test(test_decode_vectors),
		cmocka_unit_test(test_round_trip_binary),
		cmocka_unit_test(test_decode_tolerant),
		cmocka_unit_test(test_decode_invalid),
		cmocka_unit_test(test_decode_embedded_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
