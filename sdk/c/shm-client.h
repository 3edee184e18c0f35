/* SPDX-License-Identifier: MIT */
/*
 * libclove's side of the shared-memory fast path (docs/shm.md), used by
 * client.c once HELLO has handed over the memfd and the eventfd: submitting
 * entries, waiting (spin, then a shared futex), reading and reassembling
 * completions, and keeping completions that arrive while a blocking call
 * waits for another id. Internal to libclove (hidden symbols).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "clove.h"

struct shm_client;

/* Takes ownership of memfd and efd in every case; sock (the connection's
 * socket, not owned) is watched so a dead kernel is noticed. Errors from
 * shm_region_map: -EPROTO, -EPROTONOSUPPORT, -ENOMEM, ... */
int shm_client_new(int memfd, int efd, int sock, struct shm_client **ret);

/* Tells the kernel the client is done (client_state, doorbell), unmaps and
 * closes. NULL is a no-op. */
void shm_client_free(struct shm_client *s);

uint32_t shm_client_caller_id(const struct shm_client *s);
/* Submitted and not yet returned by complete/call. */
unsigned shm_client_pending(const struct shm_client *s);

int shm_client_submit(struct shm_client *s, uint8_t opcode, const void *payload,
		      size_t len, int timeout_ms, uint64_t *ret_id);
int shm_client_complete(struct shm_client *s, struct clove_completion *out,
			unsigned max, int timeout_ms);
int shm_client_call(struct shm_client *s, uint8_t opcode, const void *payload,
		    size_t len, int timeout_ms, void **ret_reply,
		    size_t *ret_len);
/* shm_client_call() handing each partial reply of the request to fn. */
int shm_client_call_stream(struct shm_client *s, uint8_t opcode,
			   const void *payload, size_t len, int timeout_ms,
			   clove_partial_fn fn, void *data, void **ret_reply,
			   size_t *ret_len);
