/* SPDX-License-Identifier: MIT */
/*
 * The event syscalls: SUBSCRIBE, UNSUBSCRIBE, POLL_EVENTS (with max and
 * wait) and EMIT (docs/protocol.md). Types are named as in the issue
 * (agent_spawned, ...); the original's upper-case names (AGENT_SPAWNED)
 * are accepted and mean the same. POLL_EVENTS with wait parks on the
 * caller's subscriber queue exactly as RECV does on its mailbox.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caller.h"
#include "dispatch.h"
#include "events.h"
#include "hub.h"
#include "jsonreq.h"
#include "kernel.h"
#include "macro.h"
#include "request.h"
#include "waitq.h"

#define POLL_MAX_WAIT_S	    3600
#define POLL_DEFAULT_WAIT_S 60

/* Normalises a type name into buf: kernel types (and "*", "custom") in
 * lower case; -EINVAL for names that are not 1..64 of [A-Za-z0-9._:/-]. */
static int type_name(const char *in, char *buf, struct jr_err *err)
{
	size_t len = strlen(in);
	char lower[EVENTS_TYPE_MAX + 1];

	if (strcmp(in, "*") == 0) {
		strcpy(buf, "*");
		return 0;
	}
	if (len == 0 || len > EVENTS_TYPE_MAX ||
	    strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		       "0123456789._:/-") != len) {
		snprintf(err->msg, sizeof(err->msg),
			 "event type '%.80s' must be '*' or 1 to %d of "
			 "A-Z a-z 0-9 . _ : / -",
			 in, EVENTS_TYPE_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i <= len; i++)
		lower[i] = (char)tolower((unsigned char)in[i]);
	strcpy(buf, events_is_kernel_type(lower) || !strcmp(lower, "custom")
			    ? lower
			    : in);
	return 0;
}

/* The type list of SUBSCRIBE/UNSUBSCRIBE: "event_types", "events" (arrays)
 * or "event" (one), as the original accepted. Returns a new array of
 * normalised names, or NULL with err set. */
static json_t *parse_types(json_t *args, struct jr_err *err)
{
	const char *keys[] = { "event_types", "events" };
	json_t *list = NULL, *out = json_array(), *v;
	const char *one = NULL;
	char buf[EVENTS_TYPE_MAX + 1];
	size_t i;

	for (i = 0; i < ELEMENTSOF(keys) && !list; i++)
		if (jr_string_array(args, keys[i], false, EVENTS_MAX_TYPES,
				    &list, err) < 0)
			goto fail;
	if (!list && jr_string(args, "event", false, &one, err) < 0)
		goto fail;
	if (one && type_name(one, buf, err) < 0)
		goto fail;
	if (one)
		json_array_append_new(out, json_string(buf));
	json_array_foreach(list, i, v) {
		if (type_name(json_string_value(v), buf, err) < 0)
			goto fail;
		json_array_append_new(out, json_string(buf));
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static struct event_sub *caller_sub(struct request *req)
{
	struct kernel *k = request_kernel(req);
	struct peer *p = hub_peer_of(k->hub, request_caller(req));

	return p ? events_sub(k->hub, p) : NULL;
}

static json_t *types_json(const struct event_sub *s)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < s->ntypes; i++)
		json_array_append_new(a, json_string(s->types[i]));
	return a;
}

void sys_subscribe(struct request *req, json_t *args)
{
	struct jr_err err;
	json_t *types = parse_types(args, &err), *v;
	struct event_sub *s;
	size_t i;

	if (!types) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	if (json_array_size(types) == 0) {
		json_decref(types);
		request_reply_error(req, -EINVAL,
				    "no event types given ('event_types')");
		return;
	}
	s = caller_sub(req);
	json_array_foreach(types, i, v) {
		int r = s ? events_sub_add(s, json_string_value(v)) : -ENOMEM;

		if (r < 0) {
			json_decref(types);
			request_reply_error(
				req, r,
				r == -E2BIG
					? "at most %d event types per caller"
					: "out of memory",
				EVENTS_MAX_TYPES);
			return;
		}
	}
	request_reply_json(req, json_pack("{s:o, s:o}", "subscribed", types,
					  "event_types", types_json(s)));
}

void sys_unsubscribe(struct request *req, json_t *args)
{
	struct jr_err err;
	bool all = false;
	json_t *types = parse_types(args, &err), *v;
	struct event_sub *s;
	size_t i;

	if (!types || jr_bool(args, "all", &all, &err) < 0) {
		json_decref(types);
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	s = caller_sub(req);
	if (!s) {
		json_decref(types);
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	if (all || json_array_size(types) == 0)
		events_sub_clear(s);
	json_array_foreach(types, i, v)
		events_sub_remove(s, json_string_value(v));
	json_decref(types);
	request_reply_json(req,
			   json_pack("{s:o}", "event_types", types_json(s)));
}

static void poll_reply(struct request *req, struct event_sub *s, unsigned max)
{
	json_t *events = json_array();
	uint64_t dropped = s->dropped;

	events_take(s, max, events);
	s->dropped = 0;
	request_reply_json(
		req, json_pack("{s:o, s:i, s:I, s:i}", "events", events,
			       "count", (int)json_array_size(events), "dropped",
			       (json_int_t)dropped, "pending", (int)s->len));
}

static bool poll_waiter(struct waiter *w, enum waiter_why why)
{
	struct request *req = w->req;
	struct peer *p = hub_peer(w->hub, w->owner_id);
	struct event_sub *s = p ? p->sub : NULL;

	if (why == WAITER_WAKE && (!s || !s->len))
		return false;
	waiter_done(w);
	if (s)
		poll_reply(req, s, w->max);
	else
		request_reply_json(req, json_pack("{s:[], s:i, s:i, s:i}",
						  "events", "count", 0,
						  "dropped", 0, "pending", 0));
	return true;
}

void sys_poll_events(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	json_t *wait_v = json_object_get(args, "wait");
	struct event_sub *s;
	struct jr_err err;
	int64_t max = 100;
	double wait = 0;

	if (json_is_boolean(wait_v))
		wait = json_is_true(wait_v) ? POLL_DEFAULT_WAIT_S : 0;
	if (jr_int(args, "max", false, 1, EVENTS_MAX_POLL, &max, &err) < 0 ||
	    (!json_is_boolean(wait_v) &&
	     jr_number(args, "wait", false, 0, POLL_MAX_WAIT_S, &wait, &err) <
		     0)) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	s = caller_sub(req);
	if (!s) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	if (s->len || s->dropped || wait <= 0 || k->hub->shutting_down ||
	    waiter_start(k->hub, &s->poll_wait, req, request_caller(req)->id,
			 (unsigned)max, (uint64_t)(wait * 1000.0 + 0.5),
			 poll_waiter) < 0)
		poll_reply(req, s, (unsigned)max);
}

void sys_emit(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	json_t *data = json_object_get(args, "data");
	const char *event = NULL;
	char type[EVENTS_TYPE_MAX + 1];
	struct jr_err err;
	unsigned n;
	size_t len;

	if (jr_string(args, "event", true, &event, &err) < 0 ||
	    type_name(event, type, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	if (events_is_kernel_type(type) || !strcmp(type, "*") ||
	    !strcmp(type, "custom")) {
		request_reply_error(req, -EINVAL,
				    "'%s' is reserved for the kernel", type);
		return;
	}
	len = data ? json_dumpb(data, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY)
		   : 0;
	if (len > EVENTS_MAX_DATA) {
		request_reply_error(
			req, -EMSGSIZE,
			"data is %zu bytes of JSON; the limit is %d", len,
			EVENTS_MAX_DATA);
		return;
	}
	n = events_emit(k, type, request_caller(req)->id, 0,
			data ? json_incref(data) : NULL);
	request_reply_json(req, json_pack("{s:s, s:i}", "event", type,
					  "delivered_to", (int)n));
}
