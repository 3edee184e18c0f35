/* SPDX-License-Identifier: MIT */
/*
 * Length-prefixed msgpack frames for the llm_worker pipes. The msgpack side
 * is msgpack-json.c's, so a worker's maps reach the kernel as the same
 * json_t a client's request does.
 */
#include "llm-frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgpack-json.h"

int llm_frame_encode(const json_t *msg, uint8_t **ret, size_t *ret_len)
{
	uint8_t *body, *frame;
	size_t len;

	if (!json_is_object(msg))
		return -EINVAL;
	int r = mpjson_encode(msg, &body, &len);
	if (r < 0)
		return r;
	if (len > LLM_FRAME_MAX) {
		free(body);
		return -EMSGSIZE;
	}
	frame = malloc(LLM_FRAME_HEADER + len);
	if (!frame) {
		free(body);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < LLM_FRAME_HEADER; i++)
		frame[i] = (uint8_t)(len >> (8 * i));
	memcpy(frame + LLM_FRAME_HEADER, body, len);
	free(body);
	*ret = frame;
	*ret_len = LLM_FRAME_HEADER + len;
	return 0;
}

int llm_frame_decode(const uint8_t *buf, size_t len, json_t **ret,
		     size_t *ret_used, char *why, size_t whylen)
{
	if (len < LLM_FRAME_HEADER)
		return (int)(LLM_FRAME_HEADER - len);
	uint32_t n = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
		     (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
	if (n > LLM_FRAME_MAX) {
		snprintf(why, whylen, "frame of %u bytes exceeds the limit",
			 n);
		return -EMSGSIZE;
	}
	if (len - LLM_FRAME_HEADER < n) {
		size_t missing = n - (len - LLM_FRAME_HEADER);
		return missing > INT32_MAX ? INT32_MAX : (int)missing;
	}
	json_t *msg = NULL;
	int r = mpjson_decode(buf + LLM_FRAME_HEADER, n, &msg, why, whylen);
	if (r < 0)
		return r;
	if (!json_is_object(msg)) {
		json_decref(msg);
		snprintf(why, whylen, "frame is not a msgpack map");
		return -EBADMSG;
	}
	*ret = msg;
	*ret_used = LLM_FRAME_HEADER + n;
	return 0;
}
