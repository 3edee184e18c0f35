/* SPDX-License-Identifier: MIT */
/*
 * The llm_worker protocol's frames (docs/llm.md): a 4-byte little-endian
 * length, then that many bytes of one msgpack map. Pure functions, used by
 * the worker pool (llm-worker.c) and tested on their own.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Largest frame either side sends (docs/llm.md). */
#define LLM_FRAME_MAX (16u << 20)
#define LLM_FRAME_HEADER 4u

/* Encodes msg (a JSON object) as one frame; *ret is malloc'd. -ENOMEM,
 * -EMSGSIZE above LLM_FRAME_MAX, -EINVAL when msg is no object. */
int llm_frame_encode(const json_t *msg, uint8_t **ret, size_t *ret_len);

/*
 * Decodes the frame at the start of buf. Returns >0 (bytes still missing),
 * 0 (*ret is the map as a JSON object, *ret_used the bytes it took),
 * -EMSGSIZE (length over LLM_FRAME_MAX), -EBADMSG (not one msgpack map;
 * why says what) or -ENOMEM.
 */
int llm_frame_decode(const uint8_t *buf, size_t len, json_t **ret,
		     size_t *ret_used, char *why, size_t whylen);
