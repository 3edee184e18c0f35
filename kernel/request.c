/* SPDX-License-Identifier: MIT */
/*
 * Building replies. Every reply goes through one of these functions, so the
 * error shape {success:false, error, code} is the same for every syscall.
 */
#include "request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "hub.h"
#include "log.h"
#include "proto.h"
#include "utf8.h"

const char *request_errno_name(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);
	return name ? name : "EIO";
}

static void finish(struct request *req, uint8_t *data, size_t len)
{
	if (req->done) {
		/* A handler answering twice is a programmer error; never send
		 * a second reply for one request. */
		log_error("BUG: request answered twice (opcode 0x%02x)", req->opcode);
		free(data);
		return;
	}
	req->reply = data;
	req->reply_len = len;
	req->done = true;
	if (req->hub_note)
		hub_request_done(req, data, len);
	conn_request_done(req);
}

void request_reply_raw(struct request *req, const void *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	if (len)
		memcpy(copy, data, len);
	finish(req, copy, len);
}

void request_reply_json(struct request *req, json_t *reply)
{
	if (json_is_object(reply) && !json_object_get(reply, "success"))
		json_object_set_new(reply, "success", json_true());
	char *text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (!text) {
		/* Only on allocation failure; the error reply is smaller. */
		static const char oom[] =
			"{\"success\":false,\"error\":\"out of memory\",\"code\":\"ENOMEM\"}";
		request_reply_raw(req, oom, sizeof(oom) - 1);
		return;
	}
	size_t len = strlen(text);
	if (len > PROTO_MAX_REPLY) {
		/* Bounded replies (DESIGN §3): the client is told, and the
		 * kernel never queues more than the limit for one answer. */
		free(text);
		request_reply_error(req, -EMSGSIZE,
				    "reply of %zu bytes exceeds the %u-byte reply limit",
				    len, PROTO_MAX_REPLY);
		return;
	}
	finish(req, (uint8_t *)text, len);
}

static json_t *error_object(int err, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);

	/* Truncation can cut a multi-byte character, and a message may quote
	 * a client's bytes: jansson takes only valid UTF-8. */
	_cleanup_free_ char *clean = NULL;
	size_t len = strlen(msg);
	if (!utf8_valid(msg, len) && utf8_sanitize(msg, len, &clean, &len) == 0)
		return json_pack("{s:b, s:s, s:s}", "success", 0, "error", clean,
				 "code", request_errno_name(err));
	return json_pack("{s:b, s:s, s:s}", "success", 0, "error", msg, "code",
			 request_errno_name(err));
}

/* Every refusal passes here: the hub audits it and emits
 * syscall_blocked, wherever in the kernel it was decided. */
static void note_denial(struct request *req, int err, json_t *o)
{
	if (err == -EACCES && o)
		hub_denied(req, json_string_value(json_object_get(o, "error")));
}

void request_reply_error(struct request *req, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *o = error_object(err, fmt, ap);
	va_end(ap);
	note_denial(req, err, o);
	request_reply_json(req, o);
}

void request_reply_error_with(struct request *req, int err, json_t *extra,
			      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *o = error_object(err, fmt, ap);
	va_end(ap);
	note_denial(req, err, o);
	if (o && extra)
		json_object_update_missing(o, extra);
	json_decref(extra);
	request_reply_json(req, o);
}

const struct caller *request_caller(const struct request *req)
{
	return conn_caller(req->conn);
}

struct kernel *request_kernel(const struct request *req)
{
	return conn_kernel(req->conn);
}

bool request_client_alive(const struct request *req)
{
	return conn_alive(req->conn);
}
