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
#include "msgpack-json.h"
#include "proto.h"
#include "shm-attach.h"
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

json_t *request_reply_decode(const struct request *req, const uint8_t *data,
			     size_t len)
{
	json_t *v = NULL;
	char why[64];

	if (!req->msgpack)
		return json_loadb((const char *)data, len, 0, NULL);
	return mpjson_decode(data, len, &v, why, sizeof(why)) == 0 ? v : NULL;
}

/* Bounded replies (DESIGN §3), whatever the encoding: the client is told,
 * and the kernel never queues more than the limit for one answer. */
static bool reply_too_big(struct request *req, uint8_t *data, size_t len)
{
	if (len <= PROTO_MAX_REPLY)
		return false;
	free(data);
	request_reply_error(
		req, -EMSGSIZE,
		"reply of %zu bytes exceeds the %u-byte reply limit", len,
		(unsigned)PROTO_MAX_REPLY);
	return true;
}

void request_reply_json(struct request *req, json_t *reply)
{
	uint8_t *data;
	size_t len;

	if (json_is_object(reply) && !json_object_get(reply, "success"))
		json_object_set_new(reply, "success", json_true());
	if (req->msgpack) {
		int r = mpjson_encode(reply, &data, &len);
		json_decref(reply);
		if (r < 0) {
			/* {"success": false}: the smallest answer, when even
			 * encoding failed. */
			request_reply_raw(req, "\x81\xa7success\xc2", 10);
			return;
		}
	} else {
		char *text = json_dumps(reply, JSON_COMPACT);
		json_decref(reply);
		if (!text) {
			/* Only on allocation failure; the error reply is
			 * smaller. */
			static const char oom[] =
				"{\"success\":false,\"error\":\"out of memory\","
				"\"code\":\"ENOMEM\"}";
			request_reply_raw(req, oom, sizeof(oom) - 1);
			return;
		}
		data = (uint8_t *)text;
		len = strlen(text);
	}
	if (!reply_too_big(req, data, len))
		finish(req, data, len);
}

/* fmt is always a literal of the caller's: _printf_(n, 0) lets the compiler
 * check it there (-Wformat-nonliteral under clang). */
static _printf_(2, 0) json_t *error_object(int err, const char *fmt, va_list ap)
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

int request_partial_encode(bool msgpack, const char *delta, size_t len,
			   uint8_t **ret, size_t *ret_len)
{
	json_t *o = json_pack("{s:b, s:b, s:s%}", "success", 1, "partial", 1,
			      "delta", delta, len);
	int r = 0;

	if (!o)
		return -ENOMEM;
	if (msgpack) {
		r = mpjson_encode(o, ret, ret_len);
	} else {
		char *text = json_dumps(o, JSON_COMPACT);
		if (text) {
			*ret = (uint8_t *)text;
			*ret_len = strlen(text);
		} else {
			r = -ENOMEM;
		}
	}
	json_decref(o);
	return r;
}

void request_reply_partial(struct request *req, const char *delta,
			   size_t len)
{
	uint8_t *data;
	size_t n;

	if (req->done || req->async || req->partials_stopped || !len ||
	    !request_client_alive(req))
		return;
	if (req->shm) {
		if (request_partial_encode(true, delta, len, &data, &n) == 0)
			shm_attach_partial(req, data, n);
		return;
	}
	conn_request_partial(req, delta, len);
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
	if (req->shm && !shm_attach_attached(req->shm))
		return false;
	return conn_alive(req->conn);
}

void request_cancel(struct request *req)
{
	if (req->done || !req->cancel)
		return;
	void (*cancel)(struct request *) = req->cancel;
	req->cancel = NULL;
	cancel(req);
}
