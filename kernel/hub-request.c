/* SPDX-License-Identifier: MIT */
/*
 * The hub's view of requests: dispatch calls hub_request_begin() just
 * before a handler and request.c calls hub_request_done() with the reply.
 * Between the two, a note on the request carries what the audit log (and
 * the recorder) needs — a summary of the arguments, taken while they still
 * exist — so an entry can say how the call ended.
 */
#include "hub.h"

#include <errno.h>
#include <string.h>

#include "audit.h"
#include "caller.h"
#include "kernel.h"
#include "proto.h"
#include "record.h"
#include "request.h"

/* Fields whose content is bulk: the entry keeps only their size. */
static const char *const bulky[] = { "content", "message",	  "value",
				     "data",	"stdin",	  "image",
				     "body",	"recording_data", NULL };

#define SUMMARY_MAX_STRING 200
#define SUMMARY_MAX_NESTED 512

static bool is_bulky(const char *key)
{
	for (unsigned i = 0; bulky[i]; i++)
		if (strcmp(bulky[i], key) == 0)
			return true;
	return false;
}

static json_t *size_note(json_t *v)
{
	char buf[48];

	snprintf(buf, sizeof(buf), "<%zu bytes>",
		 json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY));
	return json_string(buf);
}

/* The arguments as the audit log keeps them: short, no bulk. */
static json_t *args_summary(json_t *args)
{
	json_t *o = json_object(), *v;
	const char *key;

	json_object_foreach(args, key, v) {
		json_t *keep;

		if (is_bulky(key)) {
			keep = size_note(v);
		} else if (json_is_string(v) &&
			   json_string_length(v) > SUMMARY_MAX_STRING) {
			char buf[SUMMARY_MAX_STRING + 8];

			snprintf(buf, sizeof(buf), "%.*s...",
				 SUMMARY_MAX_STRING, json_string_value(v));
			keep = json_string(buf);
		} else if ((json_is_object(v) || json_is_array(v)) &&
			   json_dumpb(v, NULL, 0, JSON_COMPACT) >
				   SUMMARY_MAX_NESTED) {
			keep = size_note(v);
		} else {
			keep = json_deep_copy(v);
		}
		/* A key truncated mid-character would not be valid UTF-8. */
		if (!keep)
			keep = size_note(v);
		json_object_set_new(o, key, keep);
	}
	return o;
}

static bool operator_action(uint8_t op)
{
	switch (op) {
	case OP_THINK:
	case OP_EXEC:
	case OP_WRITE:
	case OP_SPAWN:
	case OP_KILL:
	case OP_PAUSE:
	case OP_RESUME:
	case OP_SEND:
	case OP_BROADCAST:
	case OP_REGISTER:
	case OP_STORE:
	case OP_DELETE:
	case OP_SET_PERMS:
	case OP_HTTP:
	case OP_EMIT:
	case OP_RECORD_START:
	case OP_RECORD_STOP:
	case OP_REPLAY_START:
	case OP_SET_AUDIT_CONFIG:
		return true;
	default:
		return false;
	}
}

/* The category a request is audited under, or -1. */
static int audit_category_of(struct kernel *k, uint8_t op,
			     const struct caller *c)
{
	if (op == OP_SET_PERMS)
		return AUDIT_SECURITY;
	if (op == OP_SET_AUDIT_CONFIG)
		return -1; /* the handler records the change itself */
	if (c->role == ROLE_OPERATOR && operator_action(op) &&
	    audit_enabled(k, AUDIT_OPERATOR))
		return AUDIT_OPERATOR;
	if (op == OP_SPAWN || op == OP_KILL || op == OP_PAUSE ||
	    op == OP_RESUME)
		return AUDIT_LIFECYCLE;
	if (op >= OP_SEND && op <= OP_REGISTER && audit_enabled(k, AUDIT_IPC))
		return AUDIT_IPC;
	if (op >= OP_STORE && op <= OP_KEYS && audit_enabled(k, AUDIT_STATE))
		return AUDIT_STATE;
	if (op == OP_HTTP && audit_enabled(k, AUDIT_NETWORK))
		return AUDIT_NETWORK;
	if (op >= 0xA0 && op <= 0xA8 && /* WORLD_* */
	    audit_enabled(k, AUDIT_WORLD))
		return AUDIT_WORLD;
	return audit_enabled(k, AUDIT_SYSCALL) ? AUDIT_SYSCALL : -1;
}

bool hub_request_begin(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	json_t *note = NULL;
	int cat;

	if (!k->hub)
		return true;
	cat = audit_category_of(k, req->opcode, c);
	if (cat >= 0 && (cat == AUDIT_SECURITY || audit_enabled(k, cat))) {
		note = json_object();
		json_object_set_new(note, "category", json_integer(cat));
		json_object_set_new(note, "args", args_summary(args));
	}
	if (record_wants(k, req, args)) {
		if (!note)
			note = json_object();
		json_object_set_new(note, "record", record_begin(k, req, args));
	}
	req->hub_note = note;
	return !record_replay(k, req, args);
}

/* JSON replies are compact (request.c), where this text cannot occur
 * inside a string: its quotes would be escaped. msgpack has no such
 * escaping (a string may hold any bytes), so those replies are decoded. */
static bool reply_failed(const struct request *req, const uint8_t *data,
			 size_t len)
{
	static const char needle[] = "\"success\":false";

	if (!req->msgpack)
		return memmem(data, len, needle, sizeof(needle) - 1) != NULL;
	json_t *reply = request_reply_decode(req, data, len);
	bool failed = json_is_false(json_object_get(reply, "success"));
	json_decref(reply);
	return failed;
}

/* Whom an audited call concerns: the agent it names (KILL {"id"}, an
 * operator's "agent_id"), else the calling agent. */
static uint32_t subject_of(const struct caller *c, json_t *args)
{
	json_t *id = json_object_get(args, "agent_id");

	if (!json_is_integer(id))
		id = json_object_get(args, "id");
	if (json_is_integer(id) && json_integer_value(id) > 0 &&
	    json_integer_value(id) <= UINT32_MAX)
		return (uint32_t)json_integer_value(id);
	return c->role == ROLE_AGENT ? c->id : 0;
}

void hub_request_done(struct request *req, const uint8_t *data, size_t len)
{
	struct kernel *k = request_kernel(req);
	json_t *note = req->hub_note, *cat, *rec;
	const char *name = proto_opcode_name(req->opcode);
	const struct caller *c = request_caller(req);

	req->hub_note = NULL;
	if (!k->hub) {
		json_decref(note);
		return;
	}
	cat = json_object_get(note, "category");
	if (cat) {
		json_t *args = json_object_get(note, "args");
		json_t *d = json_pack("{s:s, s:O}", "syscall",
				      name ? name : "UNKNOWN", "args", args);

		audit_record(k, (enum audit_category)json_integer_value(cat),
			     name ? name : "UNKNOWN", c, subject_of(c, args),
			     !reply_failed(req, data, len), d, true);
	}
	rec = json_object_get(note, "record");
	if (rec)
		record_done(k, req, rec, data, len);
	json_decref(note);
}
