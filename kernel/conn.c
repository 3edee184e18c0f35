/* SPDX-License-Identifier: MIT */
/*
 * Connections: frames in through a multishot recv, requests dispatched in
 * arrival order, replies out in the same order. A connection is reference
 * counted: one reference while open, one per in-flight loop op, one per
 * request not yet answered; it is freed when the count drains, never while
 * the ring may still write into it.
 *
 * Backpressure: reading stops (the multishot recv is cancelled) while
 * CONN_MAX_INFLIGHT requests wait for replies or the output buffer holds
 * more than OUT_HIGH bytes, and starts again when they drain, so a client
 * that pipelines without reading cannot grow the kernel without bound.
 *
 * Requests made with "async": true and their results live in conn-async.c;
 * the shared-memory rings a HELLO attaches live in shm-attach.c, and this
 * file only sends the byte with their fds and detaches them when it stops.
 */
#include "conn-internal.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent.h"
#include "dispatch.h"
#include "hub.h"
#include "kernel.h"
#include "log.h"
#include "llm.h"
#include "loop.h"
#include "proto.h"
#include "request.h"
#include "shm-attach.h"

#define OUT_HIGH (4u << 20)

/* The byte (and fds) that follow a HELLO reply that asked for the fast
 * path. Stages: the reply is not in the output yet; it is in pend; it is in
 * out (the byte goes once out is sent). */
enum pass_stage { PASS_WAIT_REPLY, PASS_IN_PEND, PASS_IN_OUT };

struct fd_pass {
	struct conn *owner;
	struct request *req;
	enum pass_stage stage;
	int fds[2];
	unsigned nfds;
	uint8_t byte;
	struct iovec iov;
	struct msghdr msg;
	struct loop_op op;
	_Alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * 2)];
};

static void conn_ref(struct conn *c)
{
	c->refs++;
}

static void pass_free(struct fd_pass *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nfds; i++)
		closep(&p->fds[i]);
	free(p);
}

static void conn_unref(struct conn *c)
{
	assert(c->refs > 0);
	if (--c->refs > 0)
		return;
	pass_free(c->pass);
	if (c->fd >= 0)
		close(c->fd);
	conn_async_free(c);
	free(c->in);
	free(c->out.data);
	free(c->pend.data);
	if (c->prev_conn)
		c->prev_conn->next_conn = c->next_conn;
	else
		c->k->conns = c->next_conn;
	if (c->next_conn)
		c->next_conn->prev_conn = c->prev_conn;
	c->k->nconns--;
	/* An agent's usage stays with its record, an operator's goes now. */
	if (c->caller.role == ROLE_OPERATOR)
		llm_forget(c->k, c->caller.id);
	free(c);
}

static void on_recv(struct loop_op *op, int res, uint32_t flags);
static void on_hup(struct loop_op *op, int res, uint32_t flags);
static void on_send(struct loop_op *op, int res, uint32_t flags);
static void process_input(struct conn *c);
static void take_input(struct conn *c, const uint8_t *data, size_t len);
static void flush(struct conn *c);

static size_t out_unsent(const struct conn *c)
{
	return c->out.len - c->out_off + c->pend.len;
}

/* Reading stops while replies are owed, unsent, or input is parked: at
 * most one maximal frame of input is ever buffered. */
static bool want_input(const struct conn *c)
{
	return !c->dead && !c->closing && !c->eof &&
	       c->inflight < CONN_MAX_INFLIGHT &&
	       c->in_len <= PROTO_HEADER_SIZE + PROTO_MAX_REQUEST &&
	       out_unsent(c) < OUT_HIGH;
}

/* Frames parked behind the in-flight limit go on as soon as flushing frees
 * slots; stops when a round makes no progress. */
static void pump(struct conn *c)
{
	size_t before;
	do {
		before = c->in_len;
		process_input(c);
		flush(c);
	} while (c->in_len && c->in_len != before && !c->dead && !c->closing);
}

/* Arms or cancels the multishot recv to match want_input(). */
static void update_recv(struct conn *c)
{
	if (want_input(c)) {
		if (c->recv_armed)
			return;
		if (loop_recv(c->k->loop, &c->recv_op, c->fd) == 0) {
			c->recv_armed = true;
			conn_ref(c);
		}
	} else if (c->recv_armed && !c->recv_cancelling) {
		c->recv_cancelling = true;
		(void)loop_cancel(c->k->loop, &c->recv_op);
	}
}

static struct conn *conn_alloc(struct kernel *k, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->k = k;
	c->fd = fd;
	c->refs = 1;
	c->recv_op.fn = on_recv;
	c->hup_op.fn = on_hup;
	c->send_op.fn = on_send;
	c->async.next_id = 1;
	c->next_conn = k->conns;
	if (k->conns)
		k->conns->prev_conn = c;
	k->conns = c;
	k->nconns++;
	return c;
}

int conn_new_operator(struct kernel *k, int fd, struct conn **ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	struct conn *c = conn_alloc(k, fd);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->caller = (struct caller){
		.role = ROLE_OPERATOR,
		.id = kernel_next_id(k),
		.pid = cred.pid,
		.uid = cred.uid,
		.gid = cred.gid,
	};
	update_recv(c);
	if (ret)
		*ret = c;
	return 0;
}

int conn_new_agent(struct kernel *k, int fd, struct agent *a,
		   struct conn **ret)
{
	struct conn *c = conn_alloc(k, fd);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->caller = (struct caller){
		.role = ROLE_AGENT,
		.id = agent_id(a),
		.agent = a,
		.uid = getuid(),
		.gid = getgid(),
	};
	update_recv(c);
	if (ret)
		*ret = c;
	return 0;
}

/* No more input or output; work started for the client is cancelled and
 * pending replies are dropped as they finish. */
static void conn_stop(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	for (struct request *req = c->head; req; req = req->next)
		request_cancel(req);
	conn_async_cancel(c);
	/* The rings go with the socket, and their requests' work too. */
	if (c->shm)
		shm_attach_detach(c->shm, 0, "the connection closed");
	/* Wakes a pending recv (EOF) and fails a pending send at once. */
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_armed && !c->recv_cancelling) {
		c->recv_cancelling = true;
		(void)loop_cancel(c->k->loop, &c->recv_op);
	}
	/* Requests parked in the hub (RECV/POLL_EVENTS with wait) end now. */
	hub_conn_closed(c->k, c);
	flush(c);
}

void conn_shutdown(struct conn *c)
{
	if (!c || c->released)
		return;
	c->released = true;
	conn_stop(c);
	conn_unref(c);
}

/* The peer went away or broke the stream. An agent's connection belongs to
 * its agent record, which releases it; an operator's is released here. */
static void conn_lost(struct conn *c)
{
	if (c->caller.role == ROLE_OPERATOR)
		conn_shutdown(c);
	else
		conn_stop(c);
}

void conn_forget_agent(struct conn *c)
{
	if (c)
		c->caller.agent = NULL;
}

const struct caller *conn_caller(const struct conn *c)
{
	return &c->caller;
}

bool conn_alive(const struct conn *c)
{
	return !c->dead;
}

struct kernel *conn_kernel(const struct conn *c)
{
	return c->k;
}

static int in_reserve(struct conn *c, size_t more)
{
	if (c->in_len + more <= c->in_cap)
		return 0;
	size_t cap = MAX(c->in_cap * 2, (size_t)16384);
	while (cap < c->in_len + more)
		cap *= 2;
	uint8_t *p = realloc(c->in, cap);
	if (!p)
		return -ENOMEM;
	c->in = p;
	c->in_cap = cap;
	return 0;
}

static void on_recv(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = container_of(op, struct conn, recv_op);
	bool more = loop_more(flags);

	if (res > 0) {
		/* Bytes after a framing error or shutdown are dropped unread. */
		take_input(c, loop_buf(c->k->loop, flags), (size_t)res);
		loop_buf_put(c->k->loop, flags);
	} else if (res == 0) {
		more = false;
		c->eof = true;
		if (!c->hup_armed && !c->dead &&
		    loop_poll(c->k->loop, &c->hup_op, c->fd, POLLHUP) == 0) {
			c->hup_armed = true;
			conn_ref(c);
		}
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
		/* A reset or another error: nobody is left to answer. */
		more = false;
		conn_lost(c);
	}

	if (!more) {
		c->recv_armed = false;
		c->recv_cancelling = false;
	}
	pump(c);
	update_recv(c);
	if (!more)
		conn_unref(c);
}

static void on_hup(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = container_of(op, struct conn, hup_op);
	c->hup_armed = false;
	if (res > 0 && (res & POLLHUP))
		conn_lost(c);
	conn_unref(c);
}

static struct request *request_new(struct conn *c, uint8_t opcode)
{
	struct request *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->conn = c;
	req->opcode = opcode;
	conn_ref(c);
	return req;
}

static void enqueue(struct conn *c, struct request *req)
{
	if (c->tail)
		c->tail->next = req;
	else
		c->head = req;
	c->tail = req;
	c->inflight++;
}

/* A framing error: answer once, then close (DESIGN §3). */
static void protocol_error(struct conn *c, uint8_t opcode, int err,
			   const char *msg)
{
	log_debug("connection %u: %s", c->caller.id, msg);
	c->closing = true;
	c->in_len = 0;
	struct request *req = request_new(c, opcode);
	if (!req) {
		conn_lost(c);
		return;
	}
	req->close_after = true;
	req->msgpack = c->msgpack;
	enqueue(c, req);
	request_reply_error(req, err, "%s", msg);
}

/* Dispatches the complete frames at the start of buf; returns how many
 * bytes they took. Stops at a partial frame, at the in-flight limit, and
 * for good after a framing error or EXIT. */
static size_t process_frames(struct conn *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	/* Replies made while this batch is dispatched go out together in
	 * one send when the caller flushes. */
	c->in_batch = true;
	while (!c->dead && !c->closing && c->inflight < CONN_MAX_INFLIGHT) {
		struct proto_header h;
		int r = proto_decode_header(buf + off, len - off,
					    PROTO_MAX_REQUEST, &h);
		if (r > 0)
			break;
		if (r == -EPROTO) {
			protocol_error(c, 0, -EPROTO,
				       "bad magic: not a Clove frame");
			break;
		}
		if (r == -EMSGSIZE) {
			protocol_error(c, h.opcode, -EMSGSIZE,
				       "payload too large (limit 1048576 bytes)");
			break;
		}
		if (len - off < PROTO_HEADER_SIZE + h.payload_size)
			break;

		struct request *req = request_new(c, h.opcode);
		if (!req) {
			conn_lost(c);
			break;
		}
		req->msgpack = c->msgpack;
		enqueue(c, req);
		dispatch_request(req, buf + off + PROTO_HEADER_SIZE,
				 (size_t)h.payload_size);
		off += PROTO_HEADER_SIZE + (size_t)h.payload_size;
		/* Nothing after EXIT is read, even if its reply waits. */
		if (h.opcode == OP_EXIT)
			c->closing = true;
	}
	c->in_batch = false;
	return off;
}

static void process_input(struct conn *c)
{
	if (c->in_len == 0)
		return;
	size_t used = process_frames(c, c->in, c->in_len);

	if (c->closing || c->dead) {
		c->in_len = 0;
	} else if (used > 0) {
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
	/* Only a partial frame needs a buffer; idle connections keep none. */
	if (c->in_len == 0) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* Takes the bytes of one recv: whole frames are dispatched straight from
 * the ring's buffer, only a partial tail is copied. */
static void take_input(struct conn *c, const uint8_t *data, size_t len)
{
	if (c->dead || c->closing)
		return;
	if (c->in_len == 0) {
		size_t used = process_frames(c, data, len);
		data += used;
		len -= used;
		if (len == 0 || c->dead || c->closing)
			return;
	}
	if (in_reserve(c, len) < 0) {
		log_warn("connection %u: out of memory", c->caller.id);
		conn_lost(c);
		return;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
}

static int out_append_frame(struct conn *c, uint8_t opcode,
			    const uint8_t *data, size_t len)
{
	struct outbuf *b = &c->pend;
	size_t need = PROTO_HEADER_SIZE + len;
	if (b->len + need > b->cap) {
		size_t cap = MAX(b->cap * 2, (size_t)4096);
		while (cap < b->len + need)
			cap *= 2;
		uint8_t *p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	proto_encode_header(b->data + b->len, c->caller.id, opcode, len);
	memcpy(b->data + b->len + PROTO_HEADER_SIZE, data, len);
	b->len += need;
	return 0;
}

static int out_append(struct conn *c, const struct request *req)
{
	return out_append_frame(c, req->opcode, req->reply, req->reply_len);
}

/* The text req holds goes out as one partial reply frame. */
static int out_append_held(struct conn *c, struct request *req)
{
	uint8_t *data;
	size_t len;
	int r;

	if (!req->held)
		return 0;
	r = request_partial_encode(req->msgpack, req->held, req->held_len,
				   &data, &len);
	free(req->held);
	req->held = NULL;
	req->held_len = 0;
	if (r < 0)
		return r;
	r = out_append_frame(c, req->opcode, data, len);
	free(data);
	return r;
}

static void on_pass_sent(struct loop_op *op, int res, uint32_t flags);

/* The byte after a HELLO reply, with the fast path's fds (if any). */
static void send_pass(struct conn *c)
{
	struct fd_pass *p = c->pass;

	p->iov = (struct iovec){ .iov_base = &p->byte, .iov_len = 1 };
	p->msg = (struct msghdr){ .msg_iov = &p->iov, .msg_iovlen = 1 };
	if (p->nfds > 0) {
		p->msg.msg_control = p->ctrl;
		p->msg.msg_controllen = CMSG_SPACE(sizeof(int) * p->nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&p->msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * p->nfds);
		memcpy(CMSG_DATA(cm), p->fds, sizeof(int) * p->nfds);
	}
	p->op.fn = on_pass_sent;
	if (loop_sendmsg(c->k->loop, &p->op, c->fd, &p->msg) == 0) {
		c->sending = true;
		conn_ref(c);
	} else {
		conn_lost(c);
	}
}

/* Sends the rest of out, or swaps in pend once out is done. */
static void start_send(struct conn *c)
{
	if (c->dead || c->sending)
		return;
	if (c->out_off == c->out.len) {
		if (c->pass && c->pass->stage == PASS_IN_OUT) {
			send_pass(c);
			return;
		}
		struct outbuf t = c->out;
		c->out = c->pend;
		c->pend = t;
		c->pend.len = 0;
		c->out_off = 0;
		if (c->pass && c->pass->stage == PASS_IN_PEND)
			c->pass->stage = PASS_IN_OUT;
	}
	if (c->out.len == c->out_off)
		return;
	if (loop_send(c->k->loop, &c->send_op, c->fd, c->out.data + c->out_off,
		      c->out.len - c->out_off) == 0) {
		c->sending = true;
		conn_ref(c);
	}
}

static void request_free(struct request *req)
{
	struct conn *c = req->conn;
	json_decref(req->hub_note);
	free(req->held);
	free(req->reply);
	free(req);
	conn_unref(c);
}

/* Moves answered requests from the head of the queue to the output, in
 * order, and starts a send if none is running. */
static void flush(struct conn *c)
{
	conn_ref(c);
	while (c->head && c->head->done) {
		/* Nothing goes out between a HELLO reply and its byte. */
		if (c->pass && c->pass->stage != PASS_WAIT_REPLY)
			break;
		struct request *req = c->head;
		c->head = req->next;
		if (!c->head)
			c->tail = NULL;
		c->inflight--;
		if (!c->dead &&
		    (out_append_held(c, req) < 0 || out_append(c, req) < 0))
			conn_lost(c);
		if (req->close_after)
			c->closing = true;
		if (c->pass && c->pass->req == req) {
			c->pass->req = NULL;
			c->pass->stage = PASS_IN_PEND;
		}
		request_free(req);
	}
	/* The request now at the head may stream what it held — unless the
	 * client is not reading: then its text stays coalesced in held
	 * (bounded), as output past OUT_HIGH would grow without limit. */
	if (c->head && c->head->held && !c->dead &&
	    out_unsent(c) < OUT_HIGH &&
	    !(c->pass && c->pass->stage != PASS_WAIT_REPLY) &&
	    out_append_held(c, c->head) < 0)
		conn_lost(c);

	start_send(c);
	if (!c->dead && (c->closing || c->eof) && !c->sending && !c->head &&
	    !c->pass)
		conn_lost(c);
	conn_unref(c);
}

static void on_send(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = container_of(op, struct conn, send_op);
	c->sending = false;
	if (res < 0) {
		conn_lost(c);
	} else {
		c->out_off += (size_t)res;
		/* Replies drained: frames waiting in the input may go on. */
		pump(c);
		update_recv(c);
	}
	conn_unref(c);
}

static void on_pass_sent(struct loop_op *op, int res, uint32_t flags)
{
	struct fd_pass *p = container_of(op, struct fd_pass, op);
	struct conn *c = p->owner;

	c->sending = false;
	c->pass = NULL;
	pass_free(p);
	if (res != 1) {
		conn_lost(c);
	} else {
		flush(c);
		update_recv(c);
	}
	conn_unref(c);
}

struct request *conn_request_new(struct conn *c, uint8_t opcode)
{
	return request_new(c, opcode);
}

void conn_request_free(struct request *req)
{
	request_free(req);
}

void conn_set_msgpack(struct conn *c, bool on)
{
	c->msgpack = on;
}

bool conn_msgpack(const struct conn *c)
{
	return c->msgpack;
}

void conn_set_shm(struct conn *c, struct shm_attach *a)
{
	c->shm = a;
}

struct shm_attach *conn_shm(const struct conn *c)
{
	return c->shm;
}

int conn_pass_fds_after(struct request *req, const int *fds, unsigned nfds)
{
	struct conn *c = req->conn;
	struct fd_pass *p = NULL;
	int r = 0;

	if (c->pass)
		r = -EBUSY;
	else if (nfds > ELEMENTSOF(p->fds) || req->done)
		r = -EINVAL;
	else if (!(p = calloc(1, sizeof(*p))))
		r = -ENOMEM;
	if (r < 0) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return r;
	}
	p->owner = c;
	p->req = req;
	p->nfds = nfds;
	p->byte = nfds > 0 ? 1 : 0;
	for (unsigned i = 0; i < nfds; i++)
		p->fds[i] = fds[i];
	c->pass = p;
	return 0;
}

bool conn_pass_pending(const struct conn *c)
{
	return c->pass != NULL;
}

void conn_close_after_replies(struct conn *c)
{
	c->closing = true;
	flush(c);
	update_recv(c);
}

void conn_request_partial(struct request *req, const char *delta, size_t len)
{
	struct conn *c = req->conn;

	if (c->dead || req->async)
		return;
	char *held = req->held_len + len > REQUEST_PARTIAL_MAX ?
			     NULL :
			     realloc(req->held, req->held_len + len + 1);
	if (!held) {
		/* A stream with a hole would mislead: no more partials. */
		req->partials_stopped = true;
		return;
	}
	memcpy(held + req->held_len, delta, len);
	req->held = held;
	req->held_len += len;
	held[req->held_len] = '\0';
	if (c->head == req && !c->in_batch && out_unsent(c) < OUT_HIGH)
		flush(c);
}

void conn_request_done(struct request *req)
{
	struct conn *c = req->conn;
	if (req->shm) {
		shm_attach_request_done(req);
		return;
	}
	if (req->async) {
		conn_async_done(req);
		return;
	}
	if (!c->in_batch)
		flush(c);
}

void conn_free_all(struct kernel *k)
{
	while (k->conns) {
		struct conn *c = k->conns;
		struct request *req, *next;
		for (req = c->head; req; req = next) {
			next = req->next;
			json_decref(req->hub_note);
			free(req->held);
			free(req->reply);
			free(req);
		}
		c->head = NULL;
		c->refs = 1;
		conn_unref(c);
	}
}

bool conn_operator_alive(struct kernel *k, uint32_t id)
{
	for (struct conn *c = k->conns; c; c = c->next_conn)
		if (c->caller.id == id)
			return c->caller.role == ROLE_OPERATOR && !c->dead;
	return false;
}

bool conn_all_sent(struct kernel *k)
{
	for (struct conn *c = k->conns; c; c = c->next_conn)
		if (!c->dead &&
		    (c->sending || c->pend.len > 0 || c->head || c->pass ||
		     (c->shm && shm_attach_busy(c->shm))))
			return false;
	return true;
}
