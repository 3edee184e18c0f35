/* SPDX-License-Identifier: MIT */
/*
 * The connection module's private structure, shared by its files: conn.c
 * (the socket: frames in, replies out in order, the fds after a HELLO) and
 * conn-async.c (requests made with "async": true and the ASYNC_POLL queue
 * of their results). Nothing outside the conn module includes this.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "caller.h"
#include "conn.h"
#include "loop.h"

struct async_result;
struct fd_pass;
struct request;
struct shm_attach;

struct outbuf {
	uint8_t *data;
	size_t len, cap;
};

/* Async requests and their results (conn-async.c). Bounded: at most
 * CONN_MAX_ASYNC running or unpolled, and CONN_ASYNC_BYTES of results. */
struct conn_async {
	struct async_result *head, *tail;
	unsigned ready, running;
	size_t bytes;
	int64_t next_id;
	/* Running requests (linked by next): their ids are checked against
	 * this list, and they are cancelled when the client goes. */
	struct request *reqs;
};

struct conn {
	struct kernel *k;
	/* All connections, so the kernel can release them at exit. */
	struct conn *prev_conn, *next_conn;
	int fd;
	unsigned refs;
	struct caller caller;

	struct loop_op recv_op;
	struct loop_op send_op;
	/* After EOF: tells a half-closed client (still reading) from one
	 * that is gone, whose unfinished work is then cancelled. */
	struct loop_op hup_op;
	bool hup_armed;
	bool recv_armed;
	bool recv_cancelling;
	bool sending;
	bool dead;
	/* conn_shutdown() has dropped the open reference. */
	bool released;
	/* A framing error or EXIT: no more input, close after the replies. */
	bool closing;
	/* The peer shut its side: buffered frames are still answered, then
	 * the connection closes. */
	bool eof;
	/* Frames of one recv are being dispatched; flush once afterwards. */
	bool in_batch;
	/* Socket payloads are msgpack (negotiated in HELLO). */
	bool msgpack;
	/* The shared-memory fast path, detached when the connection stops. */
	struct shm_attach *shm;
	/* The byte (and fds) owed after a HELLO reply. */
	struct fd_pass *pass;

	uint8_t *in;
	size_t in_len, in_cap;

	struct request *head, *tail;
	unsigned inflight;

	/* Replies go into pend; a send carries out. They swap when out has
	 * been sent, so a buffer is never reallocated under a running send. */
	struct outbuf out, pend;
	size_t out_off;

	struct conn_async async;
};

/* conn-async.c */
/* An async request has its reply: it moves to the ASYNC_POLL queue (or is
 * dropped if the client is gone) and req is freed. */
void conn_async_done(struct request *req);
/* The client is gone: running async work is cancelled. */
void conn_async_cancel(struct conn *c);
/* Frees the results and, at exit only (nothing can complete any more),
 * the requests still running; those do not unpin c. */
void conn_async_free(struct conn *c);
