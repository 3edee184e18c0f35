/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the msgpack request decoder (kernel/msgpack-json.c): any
 * bytes either decode into a json_t or are refused with -EBADMSG and a
 * reason, never more; what decodes encodes back and decodes again to an
 * equal value. Built with libFuzzer when -Dfuzzing=true; otherwise replay.c
 * runs the saved corpus.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "msgpack-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *j = NULL;

	int r = mpjson_decode(data, size, &j, err, sizeof(err));
	if (r < 0) {
		assert(r == -EBADMSG || r == -ENOMEM);
		assert(r != -EBADMSG || err[0]);
		return 0;
	}
	uint8_t *out = NULL;
	size_t len = 0;
	assert(mpjson_encode(j, &out, &len) == 0);
	json_t *again = NULL;
	assert(mpjson_decode(out, len, &again, err, sizeof(err)) == 0);
	assert(json_equal(j, again));
	json_decref(again);
	json_decref(j);
	free(out);
	return 0;
}
