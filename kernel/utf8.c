/* SPDX-License-Identifier: MIT */
/*
 * A strict UTF-8 decoder step shared by the validator and the sanitizer.
 * The second-byte ranges below are those of Unicode's table 3-7; they rule
 * out overlong encodings, UTF-16 surrogates and code points past U+10FFFF
 * with one comparison each.
 */
#include "utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Length of the valid sequence at s[0..len), or 0 if none starts there;
 * then *ret_bad is the length of the maximal invalid subpart (>= 1) to
 * replace with one U+FFFD.
 */
static size_t seq_len(const uint8_t *s, size_t len, size_t *ret_bad)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xBF;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*ret_bad = 1;
		return 0;
	}

	for (size_t i = 1; i < need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*ret_bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need;
}

bool utf8_valid(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i = 0, bad;

	while (i < len) {
		/* Fast path for ASCII, the common case for command output. */
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = seq_len(p + i, len - i, &bad);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Copies valid sequences and replaces invalid subparts; with out == NULL
 * it only measures. Returns the output length. */
static size_t sanitize_into(const uint8_t *p, size_t len, char *out)
{
	static const char replacement[] = "\xEF\xBF\xBD";
	size_t i = 0, o = 0, bad;

	while (i < len) {
		size_t n = seq_len(p + i, len - i, &bad);
		if (n > 0) {
			if (out)
				memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else {
			if (out)
				memcpy(out + o, replacement, 3);
			o += 3;
			i += bad;
		}
	}
	return o;
}

int utf8_sanitize(const void *s, size_t len, char **ret, size_t *ret_len)
{
	/* Two passes: outputs can be megabytes, so allocate exactly. */
	size_t n = sanitize_into(s, len, NULL);
	char *out = malloc(n + 1);

	if (!out)
		return -ENOMEM;
	sanitize_into(s, len, out);
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

static size_t json_escaped_size(unsigned char c)
{
	switch (c) {
	case '"':
	case '\\':
	case '\b':
	case '\f':
	case '\n':
	case '\r':
	case '\t':
		return 2;
	default:
		return c < 0x20 ? 6 : 1;
	}
}

size_t utf8_json_prefix(const void *s, size_t len, size_t budget,
			size_t *ret_escaped)
{
	const unsigned char *p = s;
	size_t i = 0, escaped = 0, boundary = 0, at_boundary = 0;

	for (; i < len; i++) {
		size_t add = json_escaped_size(p[i]);
		if (escaped + add > budget)
			break;
		escaped += add;
		/* A byte that is not a continuation byte starts a character:
		 * the prefix may end before it. */
		if (i + 1 == len || (p[i + 1] & 0xC0) != 0x80) {
			boundary = i + 1;
			at_boundary = escaped;
		}
	}
	if (ret_escaped)
		*ret_escaped = at_boundary;
	return boundary;
}
