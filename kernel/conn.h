/* SPDX-License-Identifier: MIT */
/*
 * A client connection: an operator's accepted socket or an agent's end of
 * its socketpair. Receives frames through a multishot recv, decodes them,
 * queues requests in order and sends replies in that order. Bounded: at
 * most CONN_MAX_INFLIGHT requests wait for replies and at most one maximal
 * frame of input is buffered; past that the connection stops receiving
 * until replies drain.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "caller.h"

#define CONN_MAX_INFLIGHT 64
#define CONN_MAX_ASYNC 256

struct kernel;
struct agent;
struct conn;

/* Takes ownership of fd (a connected stream socket, CLOEXEC). The kernel
 * reads its SO_PEERCRED. */
int conn_new_operator(struct kernel *k, int fd, struct conn **ret);
/* Takes ownership of fd; the caller is agent a (id = a's id). */
int conn_new_agent(struct kernel *k, int fd, struct agent *a,
		   struct conn **ret);

/* Stops the connection: no more requests are read, pending replies are
 * dropped, and it is freed once its in-flight operations drain. An agent's
 * connection belongs to its agent record: it stays allocated (dead) after
 * the peer closes it, until the record calls conn_shutdown() exactly once.
 * For operators the kernel calls it itself when the peer goes. */
void conn_shutdown(struct conn *c);

/* The agent record is going away: the connection stays an agent caller
 * with the same id, but no longer points at the record. */
void conn_forget_agent(struct conn *c);

const struct caller *conn_caller(const struct conn *c);

/* True when id is a live operator connection. */
bool conn_operator_alive(struct kernel *k, uint32_t id);

/* True when no live connection has a request unanswered or a reply
 * unsent. */
bool conn_all_sent(struct kernel *k);

/* At exit, after the loop is freed (nothing can complete any more):
 * releases every connection and its unanswered requests. */
void conn_free_all(struct kernel *k);

/* --- for request.c and dispatch.c --- */
struct request;

/* A request of c's that is answered into the ASYNC_POLL queue instead of
 * the ordered reply stream. -EAGAIN when the queue is full. */
int conn_new_async_request(struct conn *c, uint8_t opcode, int64_t request_id,
			   struct request **ret);
/* A partial reply of req's (request_reply_partial): sent now if req heads
 * the connection's reply order, else held until it does. */
void conn_request_partial(struct request *req, const char *delta,
			  size_t len);
/* Called by request.c when req has its reply. */
void conn_request_done(struct request *req);
bool conn_alive(const struct conn *c);
struct kernel *conn_kernel(const struct conn *c);
/* --- for shm-attach.c (the shared-memory fast path) --- */
struct shm_attach;

/* A request of c's made outside the socket's ordered stream (its reply goes
 * wherever the caller routes it); pins c until conn_request_free(). */
struct request *conn_request_new(struct conn *c, uint8_t opcode);
void conn_request_free(struct request *req);
/* Socket payloads from the next frame on are msgpack (true) or JSON. */
void conn_set_msgpack(struct conn *c, bool on);
bool conn_msgpack(const struct conn *c);
/* The fast path attached to c (NULL: none). c does not own it: it only
 * detaches it when it stops. */
void conn_set_shm(struct conn *c, struct shm_attach *a);
struct shm_attach *conn_shm(const struct conn *c);
/*
 * Right after req's reply, sends one byte on the socket carrying nfds
 * (0-2) fds over SCM_RIGHTS: 0x01 with fds, 0x00 without (docs/shm.md).
 * Takes ownership of the fds in every case; nothing after req's reply is
 * sent before that byte. -EBUSY when a byte is already pending.
 */
int conn_pass_fds_after(struct request *req, const int *fds, unsigned nfds);
/* True while a byte from conn_pass_fds_after() waits to be sent. */
bool conn_pass_pending(const struct conn *c);
/* EXIT over the rings: read nothing more, close once replies are out. */
void conn_close_after_replies(struct conn *c);

/* Moves up to max finished async results into results (a JSON array of
 * {request_id, opcode, opcode_name, payload}); returns how many are still
 * running. */
unsigned conn_async_take(struct conn *c, unsigned max, json_t *results);
/* True if request_id is neither running nor waiting to be polled. */
bool conn_async_id_free(struct conn *c, int64_t request_id);
