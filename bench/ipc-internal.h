/* SPDX-License-Identifier: MIT */
/*
 * What the agents of `clove-bench ipc` share (ipc.c): calls in the
 * connection's encoding — JSON on the socket, msgpack once the
 * shared-memory rings are attached — and the messaging helpers they are
 * built from. The message round trip lives in ipc-rtt.c.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clove_client;

/* Warm-up round trips before any is timed. */
#define IPC_WARMUP 1000u

/* Encodes req for c (taking ownership); *ret is malloc'd. */
int ipc_encode(struct clove_client *c, json_t *req, uint8_t **ret,
	       size_t *ret_len);
/* Decodes a reply payload of c into *ret (a new reference). */
int ipc_decode(struct clove_client *c, const void *raw, size_t len,
	       json_t **ret);
/* One request (taking ownership of req) and its decoded reply. */
int ipc_call(struct clove_client *c, uint8_t op, json_t *req, json_t **ret);
bool ipc_ok_reply(json_t *reply);
/* SEND, retrying for up to 10 s while the mailbox is full. */
int ipc_send_to(struct clove_client *c, uint32_t to, json_t *msg);
/* Waits (RECV) for the next message; *ret_from is its sender. */
json_t *ipc_recv_one(struct clove_client *c, double wait, uint32_t *ret_from);
/* This agent's id ($CLOVE_AGENT_ID). */
uint32_t ipc_my_id(void);
/* SPAWNs this binary as an agent with role and args; returns its id. */
int ipc_spawn_self(struct clove_client *c, const char *name,
		   const char *const *args, uint32_t *ret_id);

/* ipc-rtt.c: the roles of the message round trip. B echoes every message
 * to its sender; A (the pinger) spawns B, times n round trips and SENDs
 * {p50, p99, n} to op. With shm, both attach the rings first. */
int ipc_role_echo(struct clove_client *c, uint32_t parent);
int ipc_role_pinger(struct clove_client *c, unsigned n, uint32_t op, bool shm);
