/* SPDX-License-Identifier: MIT */
/*
 * One request of one connection, from its decoded frame to its reply.
 * Handlers receive a request and must answer it exactly once with one of
 * the request_reply_* functions — at once, or later from a completion (the
 * request pins its connection until then; if the client has gone, the reply
 * is dropped). Replies leave in request order per connection. A request
 * made with "async": true is answered "accepted" at once by the dispatcher;
 * the handler's reply then goes to the connection's ASYNC_POLL queue.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

struct conn;
struct caller;
struct kernel;
struct shm_attach;

struct request {
	struct request *next;
	struct conn *conn;
	uint8_t opcode;
	bool done;
	bool async;
	/* Close the connection once this reply is sent (EXIT, framing errors). */
	bool close_after;
	/* The payloads are msgpack, not JSON (shared-memory rings, or a socket
	 * that negotiated it): decoded and encoded at the edge. */
	bool msgpack;
	/* A partial reply travelling as a request of its own (shm-attach.c). */
	bool partial_reply;
	int64_t async_id;
	uint8_t *reply;
	size_t reply_len;
	/* Set when the request came over the shared-memory rings: the reply is
	 * a completion carrying shm_id (shm-attach.c), not a socket frame. */
	struct shm_attach *shm;
	uint64_t shm_id;
	struct request *shm_prev;
	/* Set by a handler whose work outlives the call: run once if the
	 * client goes away before the answer, to stop that work. It must not
	 * answer the request itself (the answer follows as the work ends). */
	void (*cancel)(struct request *req);
	void *cancel_data;
	/* What the hub keeps between hub_request_begin() and the reply
	 * (audit, recording); owned, NULL when nothing. */
	json_t *hub_note;
	/* Streamed text not yet sent (conn.c): a request that is not at the
	 * head of its connection's reply order keeps its partials here,
	 * coalesced, up to REQUEST_PARTIAL_MAX bytes. */
	char *held;
	size_t held_len;
	/* A partial was dropped (too much unread, no memory): every later
	 * one is too, so the stream never has a hole; the final reply
	 * carries the whole text. */
	bool partials_stopped;
};

/* Streamed text a request holds before it may send it (a request not at
 * the head of the reply order, or a client that is not reading); past
 * this the partials stop (the final reply carries the whole text anyway).
 * The shared-memory rings bound their unread partials' bytes by it too. */
#define REQUEST_PARTIAL_MAX (1u << 20)

/* Takes ownership of reply (a JSON object or array); adds "success": true
 * to objects that lack "success". */
void request_reply_json(struct request *req, json_t *reply);
/* err is a negative errno; the reply is {success:false, error, code}. */
void request_reply_error(struct request *req, int err, const char *fmt, ...)
	_printf_(3, 4);
/* Like request_reply_error, but with extra fields merged in (stolen). */
void request_reply_error_with(struct request *req, int err, json_t *extra,
			      const char *fmt, ...) _printf_(4, 5);
/*
 * A partial answer of a streaming request: {"success": true, "partial":
 * true, "delta": <text>} goes out as its own reply frame before the final
 * one (same opcode; on the shared-memory rings, a completion with the same
 * id). Partials keep the connection's reply order: those of a request not
 * yet at the head of it, or of a connection whose unsent output is over
 * its high mark, are held and coalesced. delta is UTF-8 (copied).
 * Dropped for async requests and once the request is answered; once one
 * is dropped (the limits above), all later ones are.
 */
void request_reply_partial(struct request *req, const char *delta,
			   size_t len);
/* The encoded partial reply for delta (JSON or msgpack); *ret malloc'd. */
int request_partial_encode(bool msgpack, const char *delta, size_t len,
			   uint8_t **ret, size_t *ret_len);
/* Raw payload bytes (NOOP, EXIT). */
void request_reply_raw(struct request *req, const void *data, size_t len);

/* The reply bytes of req read back as request_reply_json() encoded them
 * (msgpack or JSON, as req->msgpack says), for those that keep or inspect
 * replies (the recorder, the audit log). A new reference, or NULL for bytes
 * that are no such document (raw replies). */
json_t *request_reply_decode(const struct request *req, const uint8_t *data,
			     size_t len);

const struct caller *request_caller(const struct request *req);
struct kernel *request_kernel(const struct request *req);
/* False once the client is gone (or, for a request that came over the
 * shared-memory rings, once they are detached): long work may then stop
 * early. */
bool request_client_alive(const struct request *req);
/* The client is gone: runs req's cancel hook once, if req is unanswered. */
void request_cancel(struct request *req);

/* "EINVAL" for -EINVAL, ... */
const char *request_errno_name(int err);
