/* SPDX-License-Identifier: MIT */
/*
 * Response gathering and the HTTP reply (http-reply.h). Header lines and
 * body bytes come from the network: they are bounded as they arrive and
 * made valid UTF-8 (or base64) before they become JSON, which jansson
 * requires.
 */
#include "http-reply.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "macro.h"
#include "utf8.h"

int http_response_init(struct http_response *r)
{
	*r = (struct http_response){ .header_list = json_array() };
	return r->header_list ? 0 : -ENOMEM;
}

void http_response_reset(struct http_response *r)
{
	r->len = 0;
	r->truncated = false;
	r->header_bytes = 0;
	r->header_lines = 0;
	r->fold_len = 0;
	r->folding = false;
	r->headers_too_big = false;
	r->too_many_headers = false;
	r->oom = false;
	json_array_clear(r->header_list);
}

void http_response_done(struct http_response *r)
{
	free(r->body);
	free(r->fold);
	json_decref(r->header_list);
	*r = (struct http_response){ 0 };
}

int http_response_add_body(struct http_response *r, const char *data, size_t n,
			   size_t max)
{
	size_t keep = MIN(n, max - MIN(max, r->len));

	if (keep > r->cap - r->len) {
		size_t cap = MAX(r->cap * 2, r->len + keep);
		cap = MAX(MIN(cap, max), 4096);
		char *b = realloc(r->body, cap);
		if (!b) {
			r->oom = true;
			return -ENOMEM;
		}
		r->body = b;
		r->cap = cap;
	}
	if (keep) {
		memcpy(r->body + r->len, data, keep);
		r->len += keep;
	}
	if (keep < n) {
		r->truncated = true;
		return -ENOSPC;
	}
	return 0;
}

/* A JSON string of n bytes of s; bytes that are not UTF-8 become U+FFFD. */
static json_t *text_json(const char *s, size_t n)
{
	_cleanup_free_ char *clean = NULL;

	if (!utf8_valid(s, n)) {
		if (utf8_sanitize(s, n, &clean, &n) < 0)
			return NULL;
		s = clean;
	}
	return json_stringn(s, n);
}

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static int fold_append(struct http_response *r, const char *s, size_t n)
{
	if (n > r->fold_cap - r->fold_len) {
		size_t cap = MAX(r->fold_cap * 2, r->fold_len + n);
		char *b = realloc(r->fold, cap);
		if (!b)
			return -ENOMEM;
		r->fold = b;
		r->fold_cap = cap;
	}
	memcpy(r->fold + r->fold_len, s, n);
	r->fold_len += n;
	return 0;
}

/* Obsolete line folding: the line continues the last header's value.
 * The value grows in r->fold and becomes a JSON string once, in
 * fold_flush(): re-building it per folded line would be quadratic, in
 * libcurl's callback on the loop thread. */
static int add_continuation(struct http_response *r, const char *line, size_t n)
{
	json_t *last = json_array_get(r->header_list,
				      json_array_size(r->header_list) - 1);
	_cleanup_free_ char *clean = NULL;
	int ret;

	if (!last)
		return 0;
	if (!r->folding) {
		json_t *v = json_array_get(last, 1);
		r->fold_len = 0;
		ret = fold_append(r, json_string_value(v),
				  json_string_length(v));
		if (ret < 0)
			return ret;
		r->folding = true;
	}
	if (!utf8_valid(line, n)) {
		if (utf8_sanitize(line, n, &clean, &n) < 0)
			return -ENOMEM;
		line = clean;
	}
	ret = fold_append(r, " ", 1);
	return ret < 0 ? ret : fold_append(r, line, n);
}

/* Puts a folded value back into header_list. Its pieces are valid UTF-8
 * already, so the join is too. */
static int fold_flush(struct http_response *r)
{
	json_t *last = json_array_get(r->header_list,
				      json_array_size(r->header_list) - 1);

	if (!r->folding)
		return 0;
	r->folding = false;
	return json_array_set_new(last, 1,
				  json_stringn(r->fold, r->fold_len)) == 0
		       ? 0
		       : -ENOMEM;
}

int http_response_add_header(struct http_response *r, const char *line,
			     size_t n)
{
	bool folded = n && (line[0] == ' ' || line[0] == '\t');
	int ret;

	r->header_bytes += n;
	if (r->header_bytes > HTTP_MAX_HEADER_BYTES) {
		r->headers_too_big = true;
		return -EMSGSIZE;
	}
	if (!folded && (ret = fold_flush(r)) < 0) {
		r->oom = true;
		return ret;
	}
	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx): only the last one counts. */
		json_array_clear(r->header_list);
		r->header_bytes = n;
		r->header_lines = 0;
		return 0;
	}
	trim(&line, &n);
	if (n == 0)
		return 0;
	/* Every line costs a JSON pair or a copy, and the reply joins them:
	 * bounded, so a server cannot make that work as big as it likes. */
	if (++r->header_lines > HTTP_MAX_HEADER_LINES) {
		r->too_many_headers = true;
		return -EMSGSIZE;
	}
	if (folded) {
		ret = add_continuation(r, line, n);
		if (ret < 0)
			r->oom = true;
		return ret;
	}

	const char *colon = memchr(line, ':', n);
	if (!colon)
		return 0; /* not a header; libcurl would have failed on it */
	size_t name_len = (size_t)(colon - line);
	const char *value = colon + 1;
	size_t value_len = n - name_len - 1;
	trim(&line, &name_len);
	trim(&value, &value_len);
	json_t *pair = json_pack("[o, o]", text_json(line, name_len),
				 text_json(value, value_len));
	if (!pair || json_array_append_new(r->header_list, pair) < 0) {
		r->oom = true;
		return -ENOMEM;
	}
	return 0;
}

/* One name's values (a non-empty array of strings) joined with ", ",
 * copied once. */
static json_t *join_values(json_t *values)
{
	size_t len = 0, i;
	json_t *v;

	if (json_array_size(values) == 1)
		return json_incref(json_array_get(values, 0));
	json_array_foreach(values, i, v)
		len += json_string_length(v) + 2;
	_cleanup_free_ char *s = malloc(len);
	char *p = s;
	if (!s)
		return NULL;
	json_array_foreach(values, i, v) {
		if (i) {
			memcpy(p, ", ", 2);
			p += 2;
		}
		memcpy(p, json_string_value(v), json_string_length(v));
		p += json_string_length(v);
	}
	return json_stringn(s, (size_t)(p - s));
}

/* {lower-case name: value}, repeated headers joined with ", " (RFC 9110
 * §5.3; header_list keeps them apart, Set-Cookie included). Each name's
 * values are gathered first and joined once: joining as they come would
 * re-build the string per repeat, quadratic on the loop thread. */
static json_t *headers_object(json_t *list)
{
	json_t *groups = json_object(), *o = json_object();
	json_t *pair, *values;
	const char *key;
	size_t i;

	if (!groups || !o)
		goto oom;
	json_array_foreach(list, i, pair) {
		_cleanup_free_ char *name =
			strdup(json_string_value(json_array_get(pair, 0)));
		if (!name)
			goto oom;
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		values = json_object_get(groups, name);
		if (!values) {
			values = json_array();
			if (json_object_set_new(groups, name, values) < 0)
				goto oom;
		}
		if (json_array_append(values, json_array_get(pair, 1)) < 0)
			goto oom;
	}
	json_object_foreach(groups, key, values) {
		if (json_object_set_new(o, key, join_values(values)) < 0)
			goto oom;
	}
	json_decref(groups);
	return o;
oom:
	json_decref(groups);
	json_decref(o);
	return NULL;
}

/* Text unless it is not UTF-8 or JSON escapes would make it bigger than
 * base64 (the rule READ follows), so a reply stays within ~4/3 of the
 * body. */
static int body_json(const struct http_response *r, json_t **ret_body,
		     const char **ret_encoding)
{
	const char *b = r->body ? r->body : "";
	size_t escaped;

	if (utf8_valid(b, r->len) &&
	    utf8_json_prefix(b, r->len, (r->len + 2) / 3 * 4, &escaped) ==
		    r->len) {
		*ret_body = json_stringn(b, r->len);
		*ret_encoding = "utf-8";
	} else {
		char *text = NULL;
		size_t len;
		if (base64_encode(b, r->len, &text, &len) < 0)
			return -ENOMEM;
		*ret_body = json_stringn(text, len);
		free(text);
		*ret_encoding = "base64";
	}
	return *ret_body ? 0 : -ENOMEM;
}

json_t *http_reply_json(CURL *easy, const struct http_response *r,
			const char *url, unsigned redirects,
			uint64_t elapsed_ms)
{
	long status = 0;
	char *effective = NULL, *location = NULL;
	json_t *body = NULL;
	const char *encoding;

	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective);
	(void)curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &location);
	if (body_json(r, &body, &encoding) < 0)
		return NULL;
	json_t *reply = json_pack(
		"{s:b, s:i, s:o, s:O, s:o, s:s, s:b, s:s, s:i, s:I}", "success",
		1, "status_code", (int)status, "headers",
		headers_object(r->header_list), "header_list", r->header_list,
		"body", body, "body_encoding", encoding, "truncated",
		r->truncated, "url", effective ? effective : url, "redirects",
		(int)redirects, "elapsed_ms", (json_int_t)elapsed_ms);
	/* A 3xx that was not followed says where it pointed. */
	if (reply && location &&
	    json_object_set_new(reply, "redirect_url", json_string(location)) <
		    0) {
		json_decref(reply);
		return NULL;
	}
	return reply;
}

static bool is_tls_error(CURLcode c)
{
	switch (c) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CLIENTCERT:
		return true;
	default:
		return false;
	}
}

/* The errno of the socket call that failed, or fallback. */
static int os_errno(CURL *easy, int fallback)
{
	long e = 0;

	(void)curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &e);
	return e > 0 ? -(int)e : fallback;
}

static int code_of(CURL *easy, CURLcode c, const struct http_response *r)
{
	if (is_tls_error(c))
		return -EPROTO;
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return -ENXIO;
	case CURLE_COULDNT_CONNECT:
		return os_errno(easy, -ECONNREFUSED);
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return os_errno(easy, -ECONNRESET);
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_PARTIAL_FILE:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		if (r->headers_too_big || r->too_many_headers)
			return -EMSGSIZE;
		return r->oom ? -ENOMEM : -EIO;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

void http_error_of(CURL *easy, CURLcode c, const char *errbuf,
		   const struct http_response *r, struct http_error *ret)
{
	ret->err = code_of(easy, c, r);
	if (c == CURLE_WRITE_ERROR && r->headers_too_big)
		snprintf(ret->msg, sizeof(ret->msg),
			 "the response headers exceed %u bytes",
			 HTTP_MAX_HEADER_BYTES);
	else if (c == CURLE_WRITE_ERROR && r->too_many_headers)
		snprintf(ret->msg, sizeof(ret->msg),
			 "the response has more than %u header lines",
			 HTTP_MAX_HEADER_LINES);
	else if (errbuf && *errbuf)
		snprintf(ret->msg, sizeof(ret->msg), "%s%s (%s)",
			 is_tls_error(c) ? "TLS: " : "", curl_easy_strerror(c),
			 errbuf);
	else
		snprintf(ret->msg, sizeof(ret->msg), "%s%s",
			 is_tls_error(c) ? "TLS: " : "", curl_easy_strerror(c));
}
