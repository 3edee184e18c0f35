/* SPDX-License-Identifier: MIT */
/*
 * ipc.msg_rtt.uds and ipc.msg_rtt.shm: agent A SENDs to agent B and waits
 * (RECV) for B's answer. A pipelines the SEND and its waiting RECV, so one
 * round trip is what an agent asking another agent something pays. Over the
 * rings both agents speak msgpack, and completions may come in either
 * order (matched by id); replies are checked by their bytes, as on the
 * socket, so neither transport pays for a full decode it does not need.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "clove.h"
#include "ipc-internal.h"
#include "macro.h"

int ipc_role_echo(struct clove_client *c, uint32_t parent)
{
	int r = ipc_send_to(c, parent, json_string("ready"));

	while (r == 0) {
		uint32_t from = 0;
		json_t *m = ipc_recv_one(c, 10, &from);

		if (!m)
			continue;
		if (json_is_object(m) && json_object_get(m, "stop")) {
			json_decref(m);
			break;
		}
		r = ipc_send_to(c, from, m);
	}
	return r;
}

/* The requests of one round trip, encoded once, and what their replies
 * must contain. */
struct ping {
	uint8_t *send, *recv;
	size_t send_len, recv_len;
	const char *ok, *got_one;
	size_t ok_len, got_one_len;
};

static bool reply_good(const struct ping *p, const void *raw, size_t len,
		       bool is_recv)
{
	return memmem(raw, len, p->ok, p->ok_len) &&
	       (!is_recv || memmem(raw, len, p->got_one, p->got_one_len));
}

static int ping_socket(struct clove_client *c, const struct ping *p)
{
	void *raw = NULL;
	size_t len;
	int r = clove_send_request(c, CLOVE_OP_SEND, p->send, p->send_len);

	if (r == 0)
		r = clove_send_request(c, CLOVE_OP_RECV, p->recv, p->recv_len);
	for (int i = 0; r == 0 && i < 2; i++) {
		r = clove_recv_reply(c, NULL, &raw, &len);
		if (r == 0 && !reply_good(p, raw, len, i == 1))
			r = -EIO;
		clove_free(raw);
	}
	return r;
}

static int ping_shm(struct clove_client *c, const struct ping *p)
{
	struct clove_completion done[2];
	uint64_t recv_id = 0, id;
	unsigned got = 0;
	int r = clove_submit(c, CLOVE_OP_SEND, p->send, p->send_len, &id);

	if (r == 0)
		r = clove_submit(c, CLOVE_OP_RECV, p->recv, p->recv_len,
				 &recv_id);
	while (r == 0 && got < 2) {
		int n = clove_complete(c, done, 2 - got, -1);

		for (int i = 0; i < n; i++) {
			if (r == 0 &&
			    (done[i].error ||
			     !reply_good(p, done[i].reply, done[i].len,
					 done[i].id == recv_id)))
				r = -EIO;
			clove_free(done[i].reply);
		}
		if (n < 0)
			r = n;
		else
			got += (unsigned)n;
	}
	return r;
}

static int ping_prepare(struct clove_client *c, uint32_t echo_id, bool shm,
			struct ping *p)
{
	int r;

	/* "success": true and "count": 1, as JSON text or msgpack bytes. */
	p->ok = shm ? "\xa7success\xc3" : "\"success\":true";
	p->got_one = shm ? "\xa5"
			   "count\x01"
			 : "\"count\":1";
	p->ok_len = strlen(p->ok);
	p->got_one_len = strlen(p->got_one);
	r = ipc_encode(c,
		       json_pack("{s:I, s:{s:i}}", "to", (json_int_t)echo_id,
				 "message", "ping", 1),
		       &p->send, &p->send_len);
	if (r == 0)
		r = ipc_encode(c, json_pack("{s:i, s:i}", "max", 1, "wait", 10),
			       &p->recv, &p->recv_len);
	return r;
}

int ipc_role_pinger(struct clove_client *c, unsigned n, uint32_t op, bool shm)
{
	_cleanup_free_ uint64_t *ns = calloc(n, sizeof(*ns));
	char me[16];
	const char *args[] = { "echo", me, shm ? "shm" : NULL, NULL };
	struct ping p = { 0 };
	uint32_t echo_id = 0;
	double p50, p99;
	json_t *m;
	int r;

	snprintf(me, sizeof(me), "%u", ipc_my_id());
	r = ns ? ipc_spawn_self(c, shm ? "ipc-echo-shm" : "ipc-echo", args,
				&echo_id)
	       : -ENOMEM;
	m = r == 0 ? ipc_recv_one(c, 30, NULL) : NULL;
	if (!m)
		return r < 0 ? r : -ETIMEDOUT;
	json_decref(m);
	r = ping_prepare(c, echo_id, shm, &p);
	for (unsigned i = 0; r == 0 && i < IPC_WARMUP + n; i++) {
		uint64_t t0 = stats_now_ns();

		r = shm ? ping_shm(c, &p) : ping_socket(c, &p);
		if (i >= IPC_WARMUP)
			ns[i - IPC_WARMUP] = stats_now_ns() - t0;
	}
	free(p.send);
	free(p.recv);
	(void)ipc_send_to(c, echo_id, json_pack("{s:b}", "stop", 1));
	if (r < 0)
		return r;
	stats_summary_ns(ns, n, &p50, &p99);
	return ipc_send_to(c, op,
			   json_pack("{s:f, s:f, s:i}", "p50", p50, "p99", p99,
				     "n", (int)n));
}
