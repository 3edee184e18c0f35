/* SPDX-License-Identifier: MIT */
/*
 * UTF-8 checks for text that goes into JSON replies. jansson accepts only
 * valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), so
 * bytes from files and commands are checked with the same rules before they
 * become JSON strings.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True if the len bytes are valid UTF-8 (NUL bytes included). */
bool utf8_valid(const void *s, size_t len);

/*
 * Copies s, replacing each maximal invalid subsequence with U+FFFD (the
 * Unicode "substitution of maximal subparts" practice). *ret is a new
 * buffer (free() it, NUL-terminated) of *ret_len bytes. Returns 0 or
 * -ENOMEM.
 */
int utf8_sanitize(const void *s, size_t len, char **ret, size_t *ret_len);

/*
 * For valid UTF-8 s: the longest prefix, ending on a character boundary,
 * that takes at most budget bytes as a JSON string body the way jansson
 * writes it (2 bytes for \" \\ \b \f \n \r \t, 6 for other control
 * characters, 1 for every other byte). *ret_escaped gets its escaped size.
 * Lets callers bound a reply before building it.
 */
size_t utf8_json_prefix(const void *s, size_t len, size_t budget,
			size_t *ret_escaped);
