/* SPDX-License-Identifier: MIT */
/*
 * HTTP (0x50): validate the request, check the method against the
 * caller's http_methods and the URL against its network patterns
 * (http-policy.h: libcurl's URL parser, every bypass form normalized),
 * and hand over to a transfer (http.c), which checks every address it
 * connects to and every redirect, and answers once the response is in.
 * The request runs in the kernel, on the loop, never in a shell.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "dispatch.h"
#include "http-policy.h"
#include "http.h"
#include "jsonreq.h"
#include "kernel.h"
#include "macro.h"
#include "perm-policy.h"
#include "perm.h"
#include "request.h"
#include "strv.h"

#define HTTP_DEFAULT_TIMEOUT_S 30.0
#define HTTP_MAX_TIMEOUT_S     300.0
#define HTTP_DEFAULT_MAX_BYTES (10 << 20)
/* A base64 body of this size still fits the 16 MiB reply limit. */
#define HTTP_MAX_BYTES	 (10 << 20)
#define HTTP_MAX_URL	 8192
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_METHOD	 16

struct http_request {
	const char *url;
	const char *method;
	json_t *headers;
	const char *body;
	const char *body_base64;
	double timeout_s;
	int64_t max_bytes;
	bool follow_redirects;
};

static int parse(json_t *args, struct http_request *q, struct jr_err *err)
{
	int r;

	if ((r = jr_string(args, "url", true, &q->url, err)) < 0 ||
	    (r = jr_string(args, "method", false, &q->method, err)) < 0 ||
	    (r = jr_string(args, "body", false, &q->body, err)) < 0 ||
	    (r = jr_string(args, "body_base64", false, &q->body_base64, err)) <
		    0 ||
	    (r = jr_number(args, "timeout", false, 0, HTTP_MAX_TIMEOUT_S,
			   &q->timeout_s, err)) < 0 ||
	    (r = jr_int(args, "max_bytes", false, 0, HTTP_MAX_BYTES,
			&q->max_bytes, err)) < 0 ||
	    (r = jr_bool(args, "follow_redirects", &q->follow_redirects, err)) <
		    0)
		return r;
	q->headers = json_object_get(args, "headers");
	if (json_is_null(q->headers))
		q->headers = NULL;
	if (strlen(q->url) > HTTP_MAX_URL) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'url' is longer than %d bytes", HTTP_MAX_URL);
		return -EINVAL;
	}
	if (!(q->timeout_s > 0)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'timeout' must be greater than 0");
		return -EINVAL;
	}
	if (q->body && q->body_base64) {
		snprintf(err->msg, sizeof(err->msg),
			 "give at most one of 'body' and 'body_base64'");
		return -EINVAL;
	}
	size_t n = strlen(q->method);
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)q->method[i]))
			n = 0;
	if (n == 0 || n > HTTP_MAX_METHOD) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'method' must be an HTTP method (letters)");
		return -EINVAL;
	}
	return 0;
}

/* RFC 9110 token characters, for header names. */
static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* The caller may not override what frames the request or names its
 * destination: libcurl sets these from the URL and the body. */
static bool header_reserved(const char *name, size_t n)
{
	static const char *const reserved[] = { "host", "content-length",
						"transfer-encoding",
						"connection" };
	for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
		if (strlen(reserved[i]) == n &&
		    strncasecmp(name, reserved[i], n) == 0)
			return true;
	return false;
}

/* One header, checked, as a "Name: value" line in *ret. */
static int header_line(const char *name, size_t name_len, const char *value,
		       char **ret, struct jr_err *err)
{
	if (name_len == 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'headers' has an empty header name");
		return -EINVAL;
	}
	for (size_t i = 0; i < name_len; i++)
		if (!is_tchar(name[i])) {
			snprintf(err->msg, sizeof(err->msg),
				 "field 'headers': '%.*s' is not a header "
				 "name",
				 (int)MIN(name_len, 64), name);
			return -EINVAL;
		}
	if (header_reserved(name, name_len)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'headers': %.*s is set by the kernel",
			 (int)name_len, name);
		return -EINVAL;
	}
	/* CR or LF would start a header (or a request) of the caller's. */
	if (strpbrk(value, "\r\n")) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'headers': the value of %.*s contains a line "
			 "break",
			 (int)MIN(name_len, 64), name);
		return -EINVAL;
	}
	while (*value == ' ' || *value == '\t')
		value++;
	/* "Name;" is libcurl's way of sending a header with no value. */
	if (asprintf(ret, *value ? "%.*s: %s" : "%.*s;", (int)name_len, name,
		     value) < 0)
		return -ENOMEM;
	return 0;
}

/* headers: {"Name": "value"} or ["Name: value", ...]. */
static int parse_headers(json_t *h, char ***ret, struct jr_err *err)
{
	_cleanup_(strv_freep) char **v = NULL;
	size_t n = 0, i;
	const char *key;
	json_t *val;
	int r;

	if (h && !json_is_object(h) && !json_is_array(h)) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'headers' must be an object of strings or a "
			 "list of \"Name: value\" strings");
		return -EINVAL;
	}
	size_t count = h ? (json_is_object(h) ? json_object_size(h)
					      : json_array_size(h))
			 : 0;
	if (count > HTTP_MAX_HEADERS) {
		snprintf(err->msg, sizeof(err->msg),
			 "field 'headers' has more than %d entries",
			 HTTP_MAX_HEADERS);
		return -EINVAL;
	}
	if (!(v = calloc(count + 1, sizeof(*v))))
		return -ENOMEM;
	if (json_is_object(h)) {
		json_object_foreach(h, key, val) {
			if (!json_is_string(val)) {
				snprintf(err->msg, sizeof(err->msg),
					 "field 'headers.%.64s' must be a "
					 "string",
					 key);
				return -EINVAL;
			}
			r = header_line(key, strlen(key),
					json_string_value(val), &v[n++], err);
			if (r < 0)
				return r;
		}
	} else if (h) {
		json_array_foreach(h, i, val) {
			const char *s = json_string_value(val);
			const char *colon = s ? strchr(s, ':') : NULL;
			if (!colon) {
				snprintf(err->msg, sizeof(err->msg),
					 "field 'headers[%zu]' must be a "
					 "\"Name: value\" string",
					 i);
				return -EINVAL;
			}
			r = header_line(s, (size_t)(colon - s), colon + 1,
					&v[n++], err);
			if (r < 0)
				return r;
		}
	}
	*ret = take_ptr(v);
	return 0;
}

/* The policy checks that need no network: method, scheme, host. Answers
 * and returns -errno when refused. */
static int check_request(struct request *req, const char *method,
			 const char *url, struct http_target *t,
			 const struct perm_policy **ret_policy)
{
	const struct perm_policy *p;
	struct perm_why why;
	int r;

	if (perm_caller_policy(request_kernel(req), request_caller(req), &p) <
	    0) {
		dispatch_reply_denied(req, "HTTP refused: the caller has no "
					   "policy");
		return -EACCES;
	}
	r = http_policy_check_method(&p->http_methods, method, &why);
	if (r == 0)
		r = http_url_parse(url, t, &why);
	if (r == 0)
		r = http_policy_check_target(&p->network, t, &why);
	if (r == -EACCES)
		dispatch_reply_denied(req, "%s", why.msg);
	else if (r < 0)
		request_reply_error(req, r, "field 'url': %s", why.msg);
	if (r == 0)
		*ret_policy = p;
	return r;
}

void sys_http(struct request *req, json_t *args)
{
	struct http_request q = {
		.method = "GET",
		.timeout_s = HTTP_DEFAULT_TIMEOUT_S,
		.max_bytes = HTTP_DEFAULT_MAX_BYTES,
		.follow_redirects = true,
	};
	_cleanup_(strv_freep) char **headers = NULL;
	_cleanup_free_ void *decoded = NULL;
	_cleanup_free_ char *method = NULL;
	const struct perm_policy *policy = NULL;
	struct http_target target;
	struct jr_err err;
	size_t body_len = 0;
	int r;

	r = parse(args, &q, &err);
	if (r == 0)
		r = parse_headers(q.headers, &headers, &err);
	if (r < 0) {
		request_reply_error(req, r, "%s",
				    r == -ENOMEM ? "out of memory" : err.msg);
		return;
	}
	if (q.body_base64 && base64_decode(q.body_base64, strlen(q.body_base64),
					   &decoded, &body_len) < 0) {
		request_reply_error(req, -EINVAL,
				    "field 'body_base64' is not valid base64");
		return;
	}
	if (q.body)
		body_len = strlen(q.body);
	if (!(method = strdup(q.method))) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	for (char *c = method; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	if (request_kernel(req)->shutting_down) {
		request_reply_error(req, -ESHUTDOWN,
				    "the kernel is shutting down");
		return;
	}
	if (check_request(req, method, q.url, &target, &policy) < 0)
		return;

	struct http_params p = {
		.url = q.url,
		.target = &target,
		.method = method,
		.headers = headers,
		.body = q.body ? (const void *)q.body : decoded,
		.body_len = body_len,
		.has_body = q.body || q.body_base64,
		/* Rounded up, so a tiny timeout still gets a tick. */
		.timeout_ms = (uint64_t)(q.timeout_s * 1000.0 + 0.999),
		.timeout_s = q.timeout_s,
		.max_bytes = (size_t)q.max_bytes,
		.follow_redirects = q.follow_redirects,
		.policy = policy,
	};
	r = http_start(req, &p);
	if (r == -EAGAIN)
		request_reply_error(req, r,
				    "too many HTTP requests running (at most "
				    "%d in all, %d per caller)",
				    HTTP_MAX_TRANSFERS,
				    HTTP_MAX_CALLER_TRANSFERS);
	else if (r < 0)
		request_reply_error(req, r, "cannot start the HTTP request: %s",
				    strerror(-r));
}
