/* SPDX-License-Identifier: MIT */
/*
 * A connection's async requests: a request made with "async": true is
 * answered "accepted" at once (dispatch.c) and its handler works on a twin
 * request made here, whose reply waits in the connection's queue until
 * ASYNC_POLL takes it. Everything a client can pile up here is bounded: the
 * number of running and unpolled requests (CONN_MAX_ASYNC) and the bytes of
 * unpolled results (CONN_ASYNC_BYTES, past which a result is replaced by an
 * ENOBUFS error, so the client learns of the loss).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn-internal.h"
#include "proto.h"
#include "request.h"

/* Bytes of finished, unpolled async results kept per connection. */
#define CONN_ASYNC_BYTES ((size_t)64 << 20)

struct async_result {
	struct async_result *next;
	int64_t request_id;
	uint8_t opcode;
	char *payload;
	size_t len;
};

int conn_new_async_request(struct conn *c, uint8_t opcode, int64_t request_id,
			   struct request **ret)
{
	struct conn_async *q = &c->async;

	if (q->ready + q->running >= CONN_MAX_ASYNC)
		return -EAGAIN;
	struct request *req = conn_request_new(c, opcode);
	if (!req)
		return -ENOMEM;
	req->async = true;
	req->async_id = request_id > 0 ? request_id : q->next_id;
	if (req->async_id >= q->next_id && req->async_id < INT64_MAX)
		q->next_id = req->async_id + 1;
	req->next = q->reqs;
	q->reqs = req;
	q->running++;
	*ret = req;
	return 0;
}

static void async_unlink(struct conn_async *q, struct request *req)
{
	for (struct request **p = &q->reqs; *p; p = &(*p)->next)
		if (*p == req) {
			*p = req->next;
			return;
		}
}

static void async_store(struct conn_async *q, struct request *req)
{
	struct async_result *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->request_id = req->async_id;
	a->opcode = req->opcode;
	if (q->bytes + req->reply_len > CONN_ASYNC_BYTES) {
		/* Unpolled results are bounded in bytes too: the client learns
		 * the result was dropped instead of the kernel growing. */
		static const char dropped[] =
			"{\"success\":false,\"error\":\"result dropped: unpolled "
			"async results exceed the per-connection limit\","
			"\"code\":\"ENOBUFS\"}";
		a->payload = strdup(dropped);
		a->len = sizeof(dropped) - 1;
		if (!a->payload) {
			free(a);
			return;
		}
	} else {
		a->payload = (char *)take_ptr(req->reply);
		a->len = req->reply_len;
	}
	q->bytes += a->len;
	if (q->tail)
		q->tail->next = a;
	else
		q->head = a;
	q->tail = a;
	q->ready++;
}

void conn_async_done(struct request *req)
{
	struct conn *c = req->conn;

	async_unlink(&c->async, req);
	c->async.running--;
	if (!c->dead)
		async_store(&c->async, req);
	conn_request_free(req);
}

void conn_async_cancel(struct conn *c)
{
	for (struct request *req = c->async.reqs; req; req = req->next)
		request_cancel(req);
}

unsigned conn_async_take(struct conn *c, unsigned max, json_t *results)
{
	struct conn_async *q = &c->async;

	while (max-- > 0 && q->head) {
		struct async_result *a = q->head;
		q->head = a->next;
		if (!q->head)
			q->tail = NULL;
		q->ready--;
		q->bytes -= a->len;
		const char *name = proto_opcode_name(a->opcode);
		json_array_append_new(
			results,
			json_pack("{s:I, s:i, s:s, s:s%}", "request_id",
				  (json_int_t)a->request_id, "opcode",
				  a->opcode, "opcode_name",
				  name ? name : "UNKNOWN", "payload",
				  a->payload, a->len));
		free(a->payload);
		free(a);
	}
	return q->running;
}

bool conn_async_id_free(struct conn *c, int64_t request_id)
{
	for (struct request *r = c->async.reqs; r; r = r->next)
		if (r->async_id == request_id)
			return false;
	for (struct async_result *a = c->async.head; a; a = a->next)
		if (a->request_id == request_id)
			return false;
	return true;
}

void conn_async_free(struct conn *c)
{
	struct conn_async *q = &c->async;

	for (struct async_result *a = q->head, *next; a; a = next) {
		next = a->next;
		free(a->payload);
		free(a);
	}
	q->head = q->tail = NULL;
	for (struct request *req = q->reqs, *next; req; req = next) {
		next = req->next;
		json_decref(req->hub_note);
		free(req->reply);
		free(req);
	}
	q->reqs = NULL;
}
