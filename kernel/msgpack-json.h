/* SPDX-License-Identifier: MIT */
/*
 * msgpack <-> jansson at the edge of the kernel: requests that arrive as
 * msgpack (the shared-memory rings, or a socket that negotiated it in
 * HELLO) become the same json_t the handlers get from JSON, and replies go
 * back the same way, so a handler never knows the encoding.
 *
 * The mapping: map (string keys, no duplicates) <-> object, array <-> array,
 * str (valid UTF-8) <-> string, int <-> integer (within int64), float32/64
 * <-> real, nil <-> null, bool <-> true/false. bin and ext have no JSON
 * counterpart and are refused, as are non-finite floats.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes exactly one msgpack value that fills buf into *ret (a new
 * reference). -EBADMSG with a reason in err for anything malformed, truncated,
 * followed by trailing bytes or outside the mapping; -ENOMEM.
 */
int mpjson_decode(const void *buf, size_t len, json_t **ret, char *err,
		  size_t errlen);

/* Encodes j; *ret is malloc'd (free()). -ENOMEM, -EINVAL for a json_t
 * nested deeper than jansson can produce. */
int mpjson_encode(const json_t *j, uint8_t **ret, size_t *ret_len);
