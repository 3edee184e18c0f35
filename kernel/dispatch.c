/* SPDX-License-Identifier: MIT */
/*
 * The syscall table. A request's whole path is here: decode the payload,
 * check permission, answer "accepted" for async requests, call the handler.
 * Opcodes of features this kernel does not have answer ENOSYS, and so do
 * numbers that are no opcode at all: nothing is ever echoed by accident.
 */
#include "dispatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "caller.h"
#include "conn.h"
#include "hub.h"
#include "jsonreq.h"
#include "kernel.h"
#include "log.h"
#include "msgpack-json.h"
#include "perm.h"
#include "proto.h"
#include "request.h"

enum {
	/* The payload is raw bytes, not JSON. */
	F_RAW = 1 << 0,
	/* Accepts "async": true. */
	F_ASYNC = 1 << 1,
};

struct syscall {
	handler_fn fn;
	unsigned flags;
	const char *feature;
};

static const struct syscall table[256] = {
	[OP_NOOP] = { sys_noop, F_RAW, "noop" },
	[OP_THINK] = { sys_think, F_ASYNC, "think" },
	[OP_LLM_REPORT] = { sys_llm_report, 0, "think" },
	[OP_EXEC] = { sys_exec, F_ASYNC, "exec" },
	[OP_READ] = { sys_read, 0, "read" },
	[OP_WRITE] = { sys_write, 0, "write" },
	[OP_SPAWN] = { sys_spawn, 0, "spawn" },
	[OP_KILL] = { sys_kill, 0, "kill" },
	[OP_LIST] = { sys_list, 0, "list" },
	[OP_PAUSE] = { sys_pause, 0, "pause" },
	[OP_RESUME] = { sys_resume, 0, "resume" },
	[OP_GET_PERMS] = { sys_get_perms, 0, "permissions" },
	[OP_HTTP] = { sys_http, F_ASYNC, "http" },
	[OP_SET_PERMS] = { sys_set_perms, 0, "permissions" },
	[OP_SEND] = { sys_send, 0, "messaging" },
	[OP_RECV] = { sys_recv, 0, "messaging" },
	[OP_BROADCAST] = { sys_broadcast, 0, "messaging" },
	[OP_REGISTER] = { sys_register, 0, "messaging" },
	[OP_STORE] = { sys_store, 0, "state_store" },
	[OP_FETCH] = { sys_fetch, 0, "state_store" },
	[OP_DELETE] = { sys_delete, 0, "state_store" },
	[OP_KEYS] = { sys_keys, 0, "state_store" },
	[OP_SUBSCRIBE] = { sys_subscribe, 0, "events" },
	[OP_UNSUBSCRIBE] = { sys_unsubscribe, 0, "events" },
	[OP_POLL_EVENTS] = { sys_poll_events, 0, "events" },
	[OP_EMIT] = { sys_emit, 0, "events" },
	[OP_RECORD_START] = { sys_record_start, 0, "recording" },
	[OP_RECORD_STOP] = { sys_record_stop, 0, "recording" },
	[OP_RECORD_STATUS] = { sys_record_status, 0, "recording" },
	[OP_REPLAY_START] = { sys_replay_start, 0, "recording" },
	[OP_REPLAY_STATUS] = { sys_replay_status, 0, "recording" },
	[OP_GET_AUDIT_LOG] = { sys_get_audit_log, 0, "audit" },
	[OP_SET_AUDIT_CONFIG] = { sys_set_audit_config, 0, "audit" },
	[OP_ASYNC_POLL] = { sys_async_poll, 0, "async" },
	[OP_HELLO] = { sys_hello, 0, "hello" },
	[OP_EXIT] = { sys_exit, F_RAW, "exit" },
};

/* Features of the original that this kernel does not have yet; HELLO says
 * false for them so clients can tell before calling. */
static const char *const missing_features[] = {
	"metrics", "cgroups",
	"world", "tunnel", NULL,
};

json_t *dispatch_features(void)
{
	json_t *f = json_object();
	for (unsigned i = 0; i < ELEMENTSOF(table); i++)
		if (table[i].fn)
			json_object_set_new(f, table[i].feature, json_true());
	for (unsigned i = 0; missing_features[i]; i++)
		json_object_set_new(f, missing_features[i], json_false());
	/* Transports rather than syscalls (docs/shm.md). */
	json_object_set_new(f, "shm", json_true());
	json_object_set_new(f, "msgpack", json_true());
	return f;
}

static json_t *decode_msgpack_args(struct request *req, const void *payload,
				   size_t len)
{
	char why[256];
	json_t *args = NULL;
	int r = mpjson_decode(payload, len, &args, why, sizeof(why));
	if (r < 0) {
		request_reply_error(req, r, "%s",
				    r == -EBADMSG ? why : "out of memory");
		return NULL;
	}
	if (!json_is_object(args)) {
		json_decref(args);
		request_reply_error(req, -EBADMSG,
				    "payload must be a msgpack map");
		return NULL;
	}
	return args;
}

void dispatch_reply_denied(struct request *req, const char *fmt, ...)
{
	const struct caller *c = request_caller(req);
	const char *name = proto_opcode_name(req->opcode);
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info("denied %s for %s %u: %s", name ? name : "request",
		 c->role == ROLE_AGENT ? "agent" : "operator", c->id, why);
	request_reply_error(req, -EACCES, "%s", why);
}

static json_t *decode_args(struct request *req, const void *payload,
			   size_t len)
{
	if (len == 0)
		return json_object();
	if (req->msgpack)
		return decode_msgpack_args(req, payload, len);

	json_error_t jerr;
	json_t *args = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!args) {
		request_reply_error(req, -EBADMSG, "malformed JSON at byte %d: %s",
				    jerr.position, jerr.text);
		return NULL;
	}
	if (!json_is_object(args)) {
		json_decref(args);
		request_reply_error(req, -EBADMSG,
				    "payload must be a JSON object");
		return NULL;
	}
	return args;
}

/* Answers "accepted" now and hands the handler a twin request whose reply
 * goes to the ASYNC_POLL queue. */
static void dispatch_async(struct request *req, const struct syscall *sc,
			   json_t *args)
{
	struct jr_err err;
	int64_t id = 0;
	if (jr_int(args, "request_id", false, 1, INT64_MAX, &id, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	if (id && !conn_async_id_free(req->conn, id)) {
		request_reply_error(req, -EEXIST,
				    "request_id %lld is already in use",
				    (long long)id);
		return;
	}

	struct request *job;
	int r = conn_new_async_request(req->conn, req->opcode, id, &job);
	if (r < 0) {
		request_reply_error(req, r, r == -EAGAIN ?
				    "too many unpolled async results (limit %d)" :
				    "cannot queue async request (limit %d)",
				    CONN_MAX_ASYNC);
		return;
	}
	request_reply_json(req, json_pack("{s:b, s:b, s:I, s:s}", "success", 1,
					  "async", 1, "request_id",
					  (json_int_t)job->async_id, "status",
					  "accepted"));
	if (hub_request_begin(job, args))
		sc->fn(job, args);
}

bool dispatch_echo_allowed(struct kernel *k, const struct caller *c,
			   uint8_t opcode)
{
	char why[256];

	/* The same check as the raw branch of dispatch_request(), so a
	 * policy that ever restricts NOOP applies to both ways. */
	return table[opcode].fn == sys_noop &&
	       perm_check(k, c, opcode, NULL, why, sizeof(why)) == 0;
}

void dispatch_request(struct request *req, const void *payload, size_t len)
{
	const struct syscall *sc = &table[req->opcode];
	const char *name = proto_opcode_name(req->opcode);

	if (!sc->fn) {
		if (name)
			request_reply_error(req, -ENOSYS,
					    "%s (0x%02x) is not available in this kernel",
					    name, req->opcode);
		else
			request_reply_error(req, -ENOSYS, "unknown opcode 0x%02x",
					    req->opcode);
		return;
	}

	if (sc->flags & F_RAW) {
		char why[256];
		if (perm_check(request_kernel(req), request_caller(req),
			       req->opcode, NULL, why, sizeof(why)) < 0) {
			dispatch_reply_denied(req, "%s", why);
			return;
		}
		/* Raw handlers read the payload from a borrowed JSON string
		 * wrapper, so the handler signature stays one. */
		json_t *raw = json_stringn_nocheck(payload, len);
		sc->fn(req, raw);
		json_decref(raw);
		return;
	}

	json_t *args = decode_args(req, payload, len);
	if (!args)
		return;

	char why[256];
	if (perm_check(request_kernel(req), request_caller(req), req->opcode,
		       args, why, sizeof(why)) < 0) {
		dispatch_reply_denied(req, "%s", why);
	} else {
		struct jr_err err;
		bool async = false;
		if (jr_bool(args, "async", &async, &err) < 0)
			request_reply_error(req, -EINVAL, "%s", err.msg);
		else if (async && !(sc->flags & F_ASYNC))
			request_reply_error(req, -EINVAL,
					    "%s does not support async", name);
		else if (async)
			dispatch_async(req, sc, args);
		else if (hub_request_begin(req, args))
			sc->fn(req, args);
	}
	json_decref(args);
}
