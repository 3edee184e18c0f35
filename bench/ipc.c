/* SPDX-License-Identifier: MIT */
/*
 * `clove-bench ipc`: messaging and state-store figures, measured by real
 * agents. clove-bench spawns copies of itself as agents (SPAWN's "python"
 * and "script" are this binary, argv[3] is "ipc-agent"): a pinger and its
 * echoing child for the message round trip (A sends, B replies), a
 * receiver and 8 sender children for throughput (and the same 8 senders
 * sending NOOPs, the baseline), and 8 agents incrementing one counter with
 * compare-and-swap (and one agent alone, the baseline). Agents time
 * themselves and SEND their figures to the operator connection of the
 * run, which waits for them with RECV.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "clove.h"
#include "ipc-internal.h"
#include "macro.h"
#include "msgpack-json.h"

#define IPC_SENDERS	8u
#define IPC_WINDOW	16u
#define IPC_RESULT_WAIT 600

/* JSON over the socket, msgpack over the rings (clove.h). */
static int encode(struct clove_client *c, json_t *req, uint8_t **ret,
		  size_t *ret_len)
{
	char *text;

	if (clove_shm_attached(c))
		return mpjson_encode(req, ret, ret_len);
	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	*ret = (uint8_t *)text;
	*ret_len = strlen(text);
	return 0;
}

int ipc_decode(struct clove_client *c, const void *raw, size_t len,
	       json_t **ret)
{
	char why[128];

	if (clove_shm_attached(c))
		return mpjson_decode(raw, len, ret, why, sizeof(why));
	*ret = json_loadb(raw, len, 0, NULL);
	return *ret ? 0 : -EBADMSG;
}

int ipc_encode(struct clove_client *c, json_t *req, uint8_t **ret,
	       size_t *ret_len)
{
	int r = encode(c, req, ret, ret_len);

	json_decref(req);
	return r;
}

int ipc_call(struct clove_client *c, uint8_t op, json_t *req, json_t **ret)
{
	_cleanup_free_ uint8_t *payload = NULL;
	void *raw = NULL;
	size_t plen = 0, len = 0;
	int r = ipc_encode(c, req, &payload, &plen);

	if (r < 0)
		return r;
	r = clove_call(c, op, payload, plen, &raw, &len);
	if (r < 0)
		return r;
	r = ipc_decode(c, raw, len, ret);
	clove_free(raw);
	return r;
}

bool ipc_ok_reply(json_t *reply)
{
	return json_is_true(json_object_get(reply, "success"));
}

int ipc_send_to(struct clove_client *c, uint32_t to, json_t *msg)
{
	json_t *req =
		json_pack("{s:I, s:o}", "to", (json_int_t)to, "message", msg);
	int r = -EAGAIN;

	for (unsigned tries = 0; r == -EAGAIN && tries < 10000; tries++) {
		json_t *reply = NULL;
		const char *code;

		r = ipc_call(c, CLOVE_OP_SEND, json_incref(req), &reply);
		code = json_string_value(json_object_get(reply, "code"));
		if (r == 0 && !ipc_ok_reply(reply))
			r = code && !strcmp(code, "EAGAIN") ? -EAGAIN : -EIO;
		json_decref(reply);
		if (r == -EAGAIN)
			usleep(1000);
	}
	json_decref(req);
	return r;
}

json_t *ipc_recv_one(struct clove_client *c, double wait, uint32_t *ret_from)
{
	json_t *reply = NULL, *m, *msg = NULL;

	if (ipc_call(c, CLOVE_OP_RECV,
		     json_pack("{s:i, s:f}", "max", 1, "wait", wait),
		     &reply) < 0)
		return NULL;
	m = json_array_get(json_object_get(reply, "messages"), 0);
	if (m) {
		msg = json_incref(json_object_get(m, "message"));
		if (ret_from)
			*ret_from = (uint32_t)json_integer_value(
				json_object_get(m, "from"));
	}
	json_decref(reply);
	return msg;
}

uint32_t ipc_my_id(void)
{
	const char *id = getenv("CLOVE_AGENT_ID");

	return id ? (uint32_t)strtoul(id, NULL, 10) : 0;
}

/* SPAWNs this binary as an agent with role and args; returns its id.
 * The operator's agents are unrestricted, so they may start this binary
 * (outside the standard level's program directories) as their children,
 * which inherit that. */
int ipc_spawn_self(struct clove_client *c, const char *name,
		   const char *const *args, uint32_t *ret_id)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	json_t *argv = json_array(), *reply = NULL;
	int r;

	if (n <= 0)
		return -errno;
	self[n] = '\0';
	json_array_append_new(argv, json_string("ipc-agent"));
	for (; *args; args++)
		json_array_append_new(argv, json_string(*args));
	r = ipc_call(c, CLOVE_OP_SPAWN,
		     json_pack("{s:s, s:s, s:s, s:o, s:s, s:b}", "name", name,
			       "python", self, "script", self, "args", argv,
			       "permissions", "unrestricted", "sandboxed", 0),
		     &reply);
	if (r == 0 && !ipc_ok_reply(reply))
		r = -EIO;
	if (r == 0)
		*ret_id = (uint32_t)json_integer_value(
			json_object_get(reply, "id"));
	json_decref(reply);
	return r;
}

/* --- agent roles --- */

/* A sender: count messages (or NOOPs) to `to`, IPC_WINDOW in flight;
 * a full mailbox (EAGAIN) is retried after a short pause. */
static int role_send(struct clove_client *c, uint32_t to, unsigned count,
		     bool noop)
{
	char msg[96];
	unsigned sent = 0, acked = 0, again = 0;
	int len = snprintf(msg, sizeof(msg), "{\"to\":%u,\"message\":1}", to);
	int r = 0;

	while (r == 0 && acked < count) {
		void *raw = NULL;
		size_t rlen;

		while (r == 0 && sent < count && sent - acked < IPC_WINDOW) {
			r = noop ? clove_send_request(c, CLOVE_OP_NOOP, msg,
						      (size_t)len)
				 : clove_send_request(c, CLOVE_OP_SEND, msg,
						      (size_t)len);
			sent++;
		}
		if (r == 0)
			r = clove_recv_reply(c, NULL, &raw, &rlen);
		if (r == 0 && !noop && memmem(raw, rlen, "EAGAIN", 6)) {
			/* Resend it later: it was not accepted. */
			again++;
			sent--;
			acked--;
			usleep(200);
		} else if (r == 0 && !noop &&
			   !memmem(raw, rlen, "\"success\":true", 14)) {
			r = -EIO;
		}
		clove_free(raw);
		acked++;
	}
	return r;
}

/* Tells `to` it is done: messages are counted only up to here. */
static int report_done(struct clove_client *c, uint32_t to, uint64_t t0,
		       uint64_t t1)
{
	return ipc_send_to(c, to,
			   json_pack("{s:b, s:I, s:I}", "done", 1, "t0",
				     (json_int_t)t0, "t1", (json_int_t)t1));
}

static int role_sender(struct clove_client *c, uint32_t to, unsigned count,
		       bool noop)
{
	uint64_t t0 = stats_now_ns();
	int r = role_send(c, to, count, noop);

	return r < 0 ? r : report_done(c, to, t0, stats_now_ns());
}

/* The receiver of 8 senders: drains its mailbox until every sender is
 * done, then reports messages/s between the first and last message. */
static int role_receiver(struct clove_client *c, unsigned count, uint32_t op,
			 bool noop)
{
	char me[16], cnt[16];
	const char *args[] = { noop ? "noopsend" : "send", me, cnt, NULL };
	uint64_t first = 0, last = 0, got = 0, t0 = UINT64_MAX, t1 = 0;
	unsigned done = 0;
	int r = 0;

	snprintf(me, sizeof(me), "%u", ipc_my_id());
	snprintf(cnt, sizeof(cnt), "%u", count);
	for (unsigned i = 0; r == 0 && i < IPC_SENDERS; i++) {
		char name[32];
		uint32_t id;

		snprintf(name, sizeof(name), "ipc-%s%u", args[0], i);
		r = ipc_spawn_self(c, name, args, &id);
	}
	while (r == 0 && done < IPC_SENDERS) {
		json_t *reply = NULL, *m;
		size_t i;

		r = ipc_call(c, CLOVE_OP_RECV,
			     json_pack("{s:i, s:i}", "max", 256, "wait", 10),
			     &reply);
		json_array_foreach(json_object_get(reply, "messages"), i, m) {
			json_t *msg = json_object_get(m, "message");

			if (json_is_object(msg)) {
				done++;
				t0 = MIN(t0,
					 (uint64_t)json_integer_value(
						 json_object_get(msg, "t0")));
				t1 = MAX(t1,
					 (uint64_t)json_integer_value(
						 json_object_get(msg, "t1")));
				continue;
			}
			if (!first)
				first = stats_now_ns();
			last = stats_now_ns();
			got++;
		}
		json_decref(reply);
	}
	if (r < 0)
		return r;
	/* NOOP senders send nothing to count: their own span is the rate. */
	if (noop)
		return ipc_send_to(c, op,
				   json_pack("{s:f, s:I}", "rate",
					     IPC_SENDERS * (double)count * 1e9 /
						     (double)(t1 - t0),
					     "n",
					     (json_int_t)IPC_SENDERS * count));
	return ipc_send_to(c, op,
			   json_pack("{s:f, s:I, s:f}", "rate",
				     last > first
					     ? (double)(got - 1) * 1e9 /
						       (double)(last - first)
					     : 0.0,
				     "n", (json_int_t)got, "sender_span_s",
				     (double)(t1 - t0) / 1e9));
}

/* count compare-and-swap increments of one global key. */
static int role_cas(struct clove_client *c, const char *key, unsigned count,
		    uint32_t op)
{
	json_int_t version = 0, value = 0;
	json_t *reply = NULL;
	uint64_t t0 = stats_now_ns(), attempts = 0;
	int r = 0;

	for (unsigned done = 0; r == 0 && done < count; attempts++) {
		r = ipc_call(c, CLOVE_OP_STORE,
			     json_pack("{s:s, s:I, s:I}", "key", key, "value",
				       value + 1, "if_version", version),
			     &reply);
		if (r == 0 && ipc_ok_reply(reply)) {
			done++;
			value++;
			version = json_integer_value(
				json_object_get(reply, "version"));
		} else if (r == 0 &&
			   json_is_string(json_object_get(reply, "code")) &&
			   !strcmp(json_string_value(
					   json_object_get(reply, "code")),
				   "ESTALE")) {
			version = json_integer_value(
				json_object_get(reply, "version"));
			value = json_integer_value(
				json_object_get(reply, "value"));
		} else if (r == 0) {
			r = -EIO;
		}
		json_decref(reply);
		reply = NULL;
	}
	if (r < 0)
		return r;
	return ipc_send_to(c, op,
			   json_pack("{s:I, s:I, s:I, s:I}", "done",
				     (json_int_t)count, "attempts",
				     (json_int_t)attempts, "t0", (json_int_t)t0,
				     "t1", (json_int_t)stats_now_ns()));
}

int ipc_agent_main(int argc, char **argv)
{
	struct clove_client *c = NULL;
	const char *role = argc > 4 ? argv[4] : "";
	unsigned long a = argc > 5 ? strtoul(argv[5], NULL, 10) : 0;
	unsigned long b = argc > 6 ? strtoul(argv[6], NULL, 10) : 0;
	int shm = -1, r = clove_connect(NULL, &c);

	if (r < 0) {
		fprintf(stderr, "ipc-agent: cannot connect: %s\n",
			clove_strerror(r));
		return 1;
	}
	/* The round-trip roles take "shm" as their last argument. */
	if ((!strcmp(role, "echo") || !strcmp(role, "pinger")) &&
	    !strcmp(argv[argc - 1], "shm"))
		r = shm = clove_shm_attach(c, NULL, NULL);
	if (r < 0)
		fprintf(stderr, "ipc-agent: cannot attach the rings: %s\n",
			clove_strerror(r));
	else if (!strcmp(role, "echo"))
		r = ipc_role_echo(c, (uint32_t)a);
	else if (!strcmp(role, "pinger"))
		r = ipc_role_pinger(c, (unsigned)a, (uint32_t)b, shm == 0);
	else if (!strcmp(role, "send") || !strcmp(role, "noopsend"))
		r = role_sender(c, (uint32_t)a, (unsigned)b,
				!strcmp(role, "noopsend"));
	else if (!strcmp(role, "recv") || !strcmp(role, "nooprecv"))
		r = role_receiver(c, (unsigned)a, (uint32_t)b,
				  !strcmp(role, "nooprecv"));
	else if (!strcmp(role, "cas") && argc > 7)
		r = role_cas(c, argv[7], (unsigned)a, (uint32_t)b);
	else
		r = -EINVAL;
	if (r < 0)
		fprintf(stderr, "ipc-agent %s: %s\n", role, clove_strerror(r));
	clove_close(c);
	return r < 0 ? 1 : 0;
}

/* --- the operator's side --- */

struct ipc_run {
	struct clove_client *c;
	uint32_t op_id;
	char op_arg[16];
};

/* True when an agent of this run ended badly (it will never report). */
static bool ipc_agent_failed(struct ipc_run *run)
{
	_cleanup_free_ char *raw = NULL;
	void *reply = NULL;
	size_t len = 0;
	json_t *list, *a;
	bool failed = false;
	size_t i;

	if (clove_call(run->c, CLOVE_OP_LIST, "{}", 2, &reply, &len) < 0)
		return false;
	list = json_loadb(reply, len, 0, NULL);
	clove_free(reply);
	json_array_foreach(list, i, a) {
		const char *name =
			json_string_value(json_object_get(a, "name"));
		json_t *code = json_object_get(a, "exit_code");

		if (name && !strncmp(name, "ipc-", 4) &&
		    !json_is_true(json_object_get(a, "running")) &&
		    (json_integer_value(code) != 0 ||
		     json_is_integer(json_object_get(a, "signal"))))
			failed = true;
	}
	json_decref(list);
	return failed;
}

/* Waits for n result messages from agents (RECV on the operator
 * connection); returns them as an array, or NULL when they do not come
 * (an agent failed, or IPC_RESULT_WAIT passed). */
static json_t *ipc_results(struct ipc_run *run, unsigned n)
{
	json_t *all = json_array();
	time_t deadline = time(NULL) + IPC_RESULT_WAIT;

	while (json_array_size(all) < n && time(NULL) < deadline) {
		json_t *m = ipc_recv_one(run->c, 5, NULL);

		if (m)
			json_array_append_new(all, m);
		else if (ipc_agent_failed(run))
			break;
	}
	if (json_array_size(all) < n) {
		json_decref(all);
		return NULL;
	}
	return all;
}

static int spawn_root(struct ipc_run *run, const char *name,
		      const char *const *args)
{
	uint32_t id;

	return ipc_spawn_self(run->c, name, args, &id);
}

/* NOOP round trips of c: the floor under a message round trip. */
static void noop_rtt(const struct bench_opts *o, struct clove_client *c,
		     struct bench_result *res)
{
	_cleanup_free_ uint64_t *ns = calloc(o->iterations, sizeof(*ns));
	int r = ns ? 0 : -ENOMEM;

	for (unsigned i = 0; r == 0 && i < IPC_WARMUP + o->iterations; i++) {
		uint64_t t0 = stats_now_ns();
		void *raw = NULL;

		r = clove_call(c, CLOVE_OP_NOOP, "clove-bench-noop", 16, &raw,
			       NULL);
		clove_free(raw);
		if (i >= IPC_WARMUP)
			ns[i - IPC_WARMUP] = stats_now_ns() - t0;
	}
	if (r < 0) {
		bench_fail(res, r, "NOOP: %s", clove_strerror(r));
		return;
	}
	stats_summary_ns(ns, o->iterations, &res->p50, &res->p99);
	res->n = o->iterations;
}

/* The same over the rings, on a connection of its own. */
static void noop_rtt_shm(const struct bench_opts *o, const char *socket,
			 struct bench_result *res)
{
	struct clove_client *c = NULL;
	int r = clove_connect(socket, &c);

	if (r == 0)
		r = clove_shm_attach(c, NULL, NULL);
	if (r == 0)
		noop_rtt(o, c, res);
	else
		bench_fail(res, r, "attaching the rings: %s",
			   clove_strerror(r));
	clove_close(c);
}

static void msg_rtt(const struct bench_opts *o, struct ipc_run *run,
		    struct bench_result *res, bool shm)
{
	char n[16];
	const char *args[] = { "pinger", n, run->op_arg, shm ? "shm" : NULL,
			       NULL };
	json_t *all, *m;
	int r;

	snprintf(n, sizeof(n), "%u", o->iterations);
	r = spawn_root(run, shm ? "ipc-pinger-shm" : "ipc-pinger", args);
	if (r < 0) {
		bench_fail(res, r, "SPAWN: %s", clove_strerror(r));
		return;
	}
	all = ipc_results(run, 1);
	m = json_array_get(all, 0);
	if (!m) {
		bench_fail(res, -ETIMEDOUT, "no result from the pinger agent");
		return;
	}
	res->p50 = json_number_value(json_object_get(m, "p50"));
	res->p99 = json_number_value(json_object_get(m, "p99"));
	res->n = (uint64_t)json_integer_value(json_object_get(m, "n"));
	json_decref(all);
}

/* 8 senders -> 1 receiver, SENDs (or, for the baseline, NOOPs). */
static void throughput(const struct bench_opts *o, struct ipc_run *run,
		       struct bench_result *res, bool noop)
{
	char count[16];
	const char *args[] = { noop ? "nooprecv" : "recv", count, run->op_arg,
			       NULL };
	json_t *all, *m;
	int r;

	snprintf(count, sizeof(count), "%u", MAX(o->iterations / 4, 100u));
	r = spawn_root(run, noop ? "ipc-nooprecv" : "ipc-recv", args);
	all = r < 0 ? NULL : ipc_results(run, 1);
	m = json_array_get(all, 0);
	if (!m) {
		bench_fail(res, r < 0 ? r : -ETIMEDOUT,
			   "no result from the receiver agent");
		return;
	}
	res->p50 = res->p99 = json_number_value(json_object_get(m, "rate"));
	res->n = (uint64_t)json_integer_value(json_object_get(m, "n"));
	if (!noop)
		res->extra = json_pack("{s:O}", "sender_span_s",
				       json_object_get(m, "sender_span_s"));
	json_decref(all);
}

/* agents agents x count CAS increments of key: successful CAS/s over
 * the span from the first start to the last end. */
static void cas(const struct bench_opts *o, struct ipc_run *run,
		struct bench_result *res, unsigned agents, const char *key)
{
	char count[16], name[32];
	const char *args[] = { "cas", count, run->op_arg, key, NULL };
	uint64_t t0 = UINT64_MAX, t1 = 0, attempts = 0;
	unsigned each = MAX(o->iterations / 20, 100u);
	json_t *all, *m;
	size_t i;
	int r = 0;

	snprintf(count, sizeof(count), "%u", each);
	for (unsigned a = 0; r == 0 && a < agents; a++) {
		snprintf(name, sizeof(name), "ipc-cas-%s-%u", key, a);
		r = spawn_root(run, name, args);
	}
	all = r < 0 ? NULL : ipc_results(run, agents);
	if (!all) {
		bench_fail(res, r < 0 ? r : -ETIMEDOUT,
			   "no results from the CAS agents");
		return;
	}
	json_array_foreach(all, i, m) {
		t0 = MIN(t0, (uint64_t)json_integer_value(
				     json_object_get(m, "t0")));
		t1 = MAX(t1, (uint64_t)json_integer_value(
				     json_object_get(m, "t1")));
		attempts += (uint64_t)json_integer_value(
			json_object_get(m, "attempts"));
	}
	json_decref(all);
	res->n = (uint64_t)agents * each;
	res->p50 = res->p99 = (double)res->n * 1e9 / (double)(t1 - t0);
	res->extra =
		json_pack("{s:i, s:I, s:f}", "agents", (int)agents, "attempts",
			  (json_int_t)attempts, "conflicts_per_success",
			  (double)(attempts - res->n) / (double)res->n);
}

/* The counter must end at exactly agents x count. */
static void cas_check(struct ipc_run *run, struct bench_result *res,
		      const char *key)
{
	json_t *reply = NULL;
	json_int_t v;

	if (res->n == 0 || ipc_call(run->c, CLOVE_OP_FETCH,
				    json_pack("{s:s}", "key", key), &reply) < 0)
		return;
	v = json_integer_value(json_object_get(reply, "value"));
	json_object_set_new(res->extra, "final_value", json_integer(v));
	if ((uint64_t)v != res->n)
		bench_fail(res, -EIO, "counter ended at %lld, not %llu",
			   (long long)v, (unsigned long long)res->n);
	json_decref(reply);
}

int ipc_run(const struct bench_opts *o, const char *socket,
	    struct bench_result *res)
{
	struct ipc_run run = { 0 };
	json_t *hello = NULL;
	int r = clove_connect(socket, &run.c);

	if (r == 0)
		r = ipc_call(run.c, CLOVE_OP_HELLO, json_object(), &hello);
	if (r < 0) {
		clove_close(run.c);
		return r;
	}
	run.op_id = (uint32_t)json_integer_value(
		json_object_get(hello, "agent_id"));
	json_decref(hello);
	snprintf(run.op_arg, sizeof(run.op_arg), "%u", run.op_id);

	noop_rtt(o, run.c, &res[IPC_NOOP_RTT]);
	noop_rtt_shm(o, socket, &res[IPC_NOOP_RTT_SHM]);
	msg_rtt(o, &run, &res[IPC_MSG_RTT], false);
	msg_rtt(o, &run, &res[IPC_MSG_RTT_SHM], true);
	throughput(o, &run, &res[IPC_NOOP_TP], true);
	throughput(o, &run, &res[IPC_MSG_TP], false);
	cas(o, &run, &res[IPC_CAS_1], 1, "bench-cas-1");
	cas(o, &run, &res[IPC_CAS_8], IPC_SENDERS, "bench-cas-8");
	cas_check(&run, &res[IPC_CAS_8], "bench-cas-8");
	clove_close(run.c);
	return 0;
}
