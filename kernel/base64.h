/* SPDX-License-Identifier: MIT */
/*
 * Base64 (RFC 4648, standard alphabet, with padding) for binary content in
 * READ and WRITE replies and requests. The project has no crypto library to
 * borrow it from, so it is kept here, small and unit-tested.
 */
#pragma once

#include <stddef.h>

/* Length of the encoding of n bytes, without a terminating NUL. */
size_t base64_encoded_size(size_t n);

/*
 * Encodes len bytes. *ret is a new NUL-terminated string (free() it) of
 * *ret_len characters. Returns 0 or -ENOMEM.
 */
int base64_encode(const void *data, size_t len, char **ret, size_t *ret_len);

/*
 * Decodes len characters. Padding is optional and ASCII whitespace is
 * skipped (encoders that wrap lines are common); any other character outside
 * the alphabet, '=' before the end, or a lone trailing character is
 * -EINVAL. *ret is a new buffer (free() it, never NULL on success) of
 * *ret_len bytes. Returns 0, -EINVAL or -ENOMEM.
 */
int base64_decode(const char *text, size_t len, void **ret, size_t *ret_len);
