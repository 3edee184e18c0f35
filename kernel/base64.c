/* SPDX-License-Identifier: MIT */
/*
 * Base64 encoder and a tolerant decoder (see base64.h for what it accepts).
 * Table-driven, one pass each way, no allocation beyond the result.
 */
#include "base64.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_size(size_t n)
{
	return (n + 2) / 3 * 4;
}

int base64_encode(const void *data, size_t len, char **ret, size_t *ret_len)
{
	const uint8_t *in = data;
	size_t n = base64_encoded_size(len);
	char *out, *o;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return -ENOMEM;
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	o = out;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = len - i;
		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = left > 1 ? alphabet[v >> 6 & 63] : '=';
		*o++ = left > 2 ? alphabet[v & 63] : '=';
	}
	*o = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

/* 0..63 for alphabet characters, -1 otherwise. */
static int sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

int base64_decode(const char *text, size_t len, void **ret, size_t *ret_len)
{
	/* +1 so that an empty input still yields a non-NULL buffer. */
	uint8_t *out = malloc(len / 4 * 3 + 3), *o;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t pad = 0;

	if (!out)
		return -ENOMEM;
	o = out;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (is_space(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int s = sextet(c);
		/* Data after padding, or padding in the middle of a group. */
		if (s < 0 || pad > 0)
			goto invalid;
		acc = acc << 6 | (uint32_t)s;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (uint8_t)(acc >> bits);
		}
	}
	/* 6 leftover bits cannot hold a byte: one lone character in the last
	 * group. Padding, when given, must complete the group. */
	if (bits == 6 || pad > 2 || (pad > 0 && (bits / 2 != pad)))
		goto invalid;
	*ret = out;
	*ret_len = (size_t)(o - out);
	return 0;

invalid:
	free(out);
	return -EINVAL;
}
