/* SPDX-License-Identifier: MIT */
/*
 * The messaging syscalls: REGISTER, SEND, BROADCAST and RECV
 * (docs/protocol.md). A target is named by id or name and must be alive —
 * an unknown one is an error, never a silent success — and reachable
 * under policy_may_message(). Messages go to the target's durable mailbox
 * (mailbox.c); a RECV with "wait" that finds none waits on the caller's
 * peer without blocking the loop, and a SEND wakes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "caller.h"
#include "conn.h"
#include "db.h"
#include "dispatch.h"
#include "events.h"
#include "hub.h"
#include "jsonreq.h"
#include "kernel.h"
#include "mailbox.h"
#include "macro.h"
#include "policy.h"
#include "request.h"
#include "store.h"
#include "waitq.h"

/* RECV's "wait": at most an hour; true means this long. */
#define RECV_MAX_WAIT_S	    3600
#define RECV_DEFAULT_WAIT_S 60

struct target {
	uint32_t id;
	/* NULL: an operator connection. */
	struct agent *agent;
};

static void reply_db_error(struct request *req, int r, const char *what)
{
	request_reply_error(req, r, "%s: %s", what,
			    db_errmsg(request_kernel(req)->hub->db));
}

/* "agent-<digits>" is the default name of unnamed agents. */
static bool name_reserved(const char *name)
{
	const char *p = name + strlen("agent-");

	if (strncmp(name, "agent-", 6) != 0 || !*p)
		return false;
	return strspn(p, "0123456789") == strlen(p);
}

/* The sender's name as messages carry it: its registered or agent name. */
static const char *sender_name(struct kernel *k, const struct caller *c)
{
	struct peer *p = hub_peer(k->hub, c->id);
	struct agent *a;

	if (p && p->name[0])
		return p->name;
	a = policy_caller_agent(k, c);
	return a ? agent_name(a) : NULL;
}

/* Finds {"to": id} or {"to_name": name}; replies the error itself. */
static bool find_target(struct request *req, json_t *args, struct target *t)
{
	struct kernel *k = request_kernel(req);
	const char *name = NULL;
	struct jr_err err;
	struct peer *p;
	int64_t id = 0;

	if (jr_id_or_name(args, "to", "to_name", &id, &name, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return false;
	}
	if (name && (p = hub_peer_by_name(k->hub, name)))
		id = p->id;
	else if (name && (t->agent = agents_find_name(k->agents, name)))
		id = agent_id(t->agent);
	else if (name) {
		request_reply_error(req, -ENOENT, "no live agent named '%s'",
				    name);
		return false;
	}
	t->id = (uint32_t)id;
	t->agent = agents_find_id(k->agents, t->id);
	if (t->agent && agent_alive(t->agent))
		return true;
	t->agent = NULL;
	if (!conn_operator_alive(k, t->id)) {
		request_reply_error(req, -ENOENT,
				    "no live agent or operator with id %u",
				    t->id);
		return false;
	}
	return true;
}

/* The message as stored: compact JSON, within MAILBOX_MAX_BYTES. */
static char *encode_message(struct request *req, json_t *args, size_t *len)
{
	json_t *msg = json_object_get(args, "message");
	char *text;

	if (!msg) {
		request_reply_error(req, -EINVAL, "missing field 'message'");
		return NULL;
	}
	text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return NULL;
	}
	*len = strlen(text);
	if (*len > MAILBOX_MAX_BYTES) {
		request_reply_error(req, -EMSGSIZE,
				    "message is %zu bytes of JSON; the limit "
				    "is %d",
				    *len, MAILBOX_MAX_BYTES);
		free(text);
		return NULL;
	}
	return text;
}

/* A message is in id's mailbox: wake its RECV, tell its subscribers. */
static void delivered(struct kernel *k, const struct mailbox_from *from,
		      uint32_t to, int64_t msg_id)
{
	struct peer *p = hub_peer(k->hub, to);

	events_emit(k, EVENT_MESSAGE_RECEIVED, from->id, to,
		    json_pack("{s:I, s:I, s:s?, s:I}", "to", (json_int_t)to,
			      "from", (json_int_t)from->id, "from_name",
			      from->name, "message_id", (json_int_t)msg_id));
	if (p)
		hub_wake_recv(k->hub, p);
}

void sys_send(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	char ident[HUB_IDENT_MAX], why[256];
	struct mailbox_from from = { c->id, sender_name(k, c) };
	_cleanup_free_ char *body = NULL;
	struct target t = { 0 };
	int64_t msg_id = 0;
	size_t len = 0;
	int r;

	if (!find_target(req, args, &t))
		return;
	if (policy_may_message(k, c, t.agent, t.id, why, sizeof(why)) < 0) {
		request_reply_error(req, -EACCES, "%s", why);
		return;
	}
	body = encode_message(req, args, &len);
	if (!body)
		return;
	hub_ident(k->hub, t.id, ident);
	r = mailbox_put(k->hub, ident, &from, body, len, &msg_id);
	if (r == -EAGAIN) {
		request_reply_error_with(
			req, r,
			json_pack("{s:I, s:i}", "delivered_to",
				  (json_int_t)t.id, "limit",
				  MAILBOX_MAX_MESSAGES),
			"the mailbox of %u (%s) is full (%d messages); try "
			"again later",
			t.id, ident, MAILBOX_MAX_MESSAGES);
		return;
	}
	if (r < 0) {
		reply_db_error(req, r, "storing the message");
		return;
	}
	request_reply_json(req,
			   json_pack("{s:I, s:I, s:s}", "delivered_to",
				     (json_int_t)t.id, "message_id",
				     (json_int_t)msg_id, "mailbox", ident));
	delivered(k, &from, t.id, msg_id);
}

struct bcast {
	struct kernel *k;
	const struct caller *from;
	struct mailbox_from sender;
	bool include_self;
	const char *body;
	size_t len;
	/* Ids stored to (with their message ids), and those whose mailbox
	 * was full. */
	json_t *to, *ids, *full;
	int err;
};

static void bcast_one(struct agent *a, void *data)
{
	struct bcast *b = data;
	char ident[HUB_IDENT_MAX], why[8];
	uint32_t id = agent_id(a);
	int64_t msg_id;
	int r;

	if (b->err < 0 || (id == b->from->id && !b->include_self))
		return;
	if (policy_may_message(b->k, b->from, a, id, why, sizeof(why)) < 0)
		return;
	r = mailbox_put(b->k->hub, hub_ident(b->k->hub, id, ident), &b->sender,
			b->body, b->len, &msg_id);
	if (r == -EAGAIN) {
		json_array_append_new(b->full, json_integer(id));
	} else if (r < 0) {
		b->err = r;
	} else {
		json_array_append_new(b->to, json_integer(id));
		json_array_append_new(b->ids, json_integer(msg_id));
	}
}

void sys_broadcast(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	struct bcast b = { .k = k, .from = request_caller(req) };
	_cleanup_free_ char *body = NULL;
	struct jr_err err;
	size_t i;
	int r;

	if (jr_bool(args, "include_self", &b.include_self, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	body = encode_message(req, args, &b.len);
	if (!body)
		return;
	b.body = body;
	b.sender = (struct mailbox_from){ b.from->id, sender_name(k, b.from) };
	b.to = json_array();
	b.ids = json_array();
	b.full = json_array();
	r = mailbox_batch_begin(k->hub);
	if (r == 0) {
		agents_foreach_live(k->agents, bcast_one, &b);
		r = mailbox_batch_end(k->hub, b.err);
	}
	if (r < 0) {
		json_decref(b.to);
		json_decref(b.ids);
		json_decref(b.full);
		reply_db_error(req, r, "storing the broadcast");
		return;
	}
	request_reply_json(req,
			   json_pack("{s:i, s:O, s:o}", "delivered_count",
				     (int)json_array_size(b.to), "delivered_to",
				     b.to, "skipped_full", b.full));
	for (i = 0; i < json_array_size(b.to); i++)
		delivered(k, &b.sender,
			  (uint32_t)json_integer_value(json_array_get(b.to, i)),
			  json_integer_value(json_array_get(b.ids, i)));
	json_decref(b.to);
	json_decref(b.ids);
}

/* Takes up to max messages of id's mailbox into a RECV reply. NULL with
 * *ret_err set on failure. */
static json_t *recv_take(struct kernel *k, uint32_t id, unsigned max,
			 int *ret_err)
{
	char ident[HUB_IDENT_MAX];
	json_t *msgs = json_array();
	int n;

	if (!msgs) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	n = mailbox_take(k->hub, hub_ident(k->hub, id, ident), max, msgs);
	if (n < 0) {
		json_decref(msgs);
		*ret_err = n;
		return NULL;
	}
	return msgs;
}

static void recv_reply(struct request *req, json_t *msgs)
{
	size_t n = json_array_size(msgs);

	request_reply_json(req, json_pack("{s:o, s:i}", "messages", msgs,
					  "count", (int)n));
}

static bool recv_waiter(struct waiter *w, enum waiter_why why)
{
	struct request *req = w->req;
	struct kernel *k = w->hub->k;
	json_t *msgs;
	int r = 0;

	if (!request_client_alive(req)) {
		/* Never take messages nobody will read. */
		waiter_done(w);
		request_reply_error(req, -ECANCELED, "the client has gone");
		return true;
	}
	msgs = recv_take(k, w->owner_id, w->max, &r);
	if (msgs && json_array_size(msgs) == 0 && why == WAITER_WAKE) {
		json_decref(msgs);
		return false;
	}
	waiter_done(w);
	if (!msgs)
		reply_db_error(req, r, "reading the mailbox");
	else
		recv_reply(req, msgs);
	return true;
}

/* "wait": seconds (a number), or true for RECV_DEFAULT_WAIT_S. */
static int parse_wait(json_t *args, double *ret, struct jr_err *err)
{
	json_t *v = json_object_get(args, "wait");

	if (json_is_boolean(v)) {
		*ret = json_is_true(v) ? RECV_DEFAULT_WAIT_S : 0;
		return 0;
	}
	return jr_number(args, "wait", false, 0, RECV_MAX_WAIT_S, ret, err);
}

void sys_recv(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	struct jr_err err;
	double wait = 0;
	int64_t max = 10;
	struct peer *p;
	json_t *msgs;
	int r = 0;

	if (jr_int(args, "max", false, 1, MAILBOX_MAX_RECV, &max, &err) < 0 ||
	    parse_wait(args, &wait, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	msgs = recv_take(k, c->id, (unsigned)max, &r);
	if (!msgs) {
		reply_db_error(req, r, "reading the mailbox");
		return;
	}
	if (json_array_size(msgs) > 0 || wait <= 0 || k->hub->shutting_down) {
		recv_reply(req, msgs);
		return;
	}
	p = hub_peer_of(k->hub, c);
	if (p &&
	    waiter_start(k->hub, &p->recv_wait, req, c->id, (unsigned)max,
			 (uint64_t)(wait * 1000.0 + 0.5), recv_waiter) == 0) {
		json_decref(msgs);
		return;
	}
	recv_reply(req, msgs);
}

void sys_register(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	char before[HUB_IDENT_MAX], after[HUB_IDENT_MAX];
	struct agent *me = policy_caller_agent(k, c);
	const char *name = NULL;
	struct jr_err err;
	struct peer *p;
	int r;

	if (jr_string(args, "name", true, &name, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	if (!agent_name_valid(name) ||
	    (name_reserved(name) && !(me && !strcmp(name, agent_name(me))))) {
		request_reply_error(
			req, -EINVAL,
			"field 'name' must be 1 to %d characters "
			"of A-Z a-z 0-9 . _ - and not agent-<number>",
			AGENT_NAME_MAX);
		return;
	}
	if (hub_name_taken(k, name, c->id)) {
		request_reply_error(req, -EEXIST,
				    "the name '%s' is taken by another caller",
				    name);
		return;
	}
	p = hub_peer_of(k->hub, c);
	if (!p) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	hub_ident(k->hub, c->id, before);
	hub_peer_set_name(k->hub, p, name);
	hub_ident(k->hub, c->id, after);
	/* Messages already sent to this caller follow it to its name. */
	if (strcmp(before, after) != 0 &&
	    ((r = mailbox_rename(k->hub, before, after)) < 0 ||
	     (r = store_rename(k->hub, before, after)) < 0)) {
		reply_db_error(req, r, "moving the mailbox and keys");
		return;
	}
	request_reply_json(req, json_pack("{s:I, s:s}", "agent_id",
					  (json_int_t)c->id, "name", name));
}
