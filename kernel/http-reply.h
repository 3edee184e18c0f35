/* SPDX-License-Identifier: MIT */
/*
 * What an HTTP transfer gathers and answers: the response body (bounded
 * by max_bytes, the rest dropped and "truncated" said), the response
 * header lines (bounded), the reply object, and libcurl's failures as
 * errno-like codes with a sentence.
 */
#pragma once

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Response header bytes kept per response. */
#define HTTP_MAX_HEADER_BYTES (256u * 1024)
/* Response header lines (folded continuations included) per response:
 * the byte bound alone still lets a server send ~50,000 tiny lines. */
#define HTTP_MAX_HEADER_LINES 1000u

struct http_response {
	char *body;
	size_t len, cap;
	bool truncated;
	/* [[name, value], ...] of the last response block, as received. */
	json_t *header_list;
	size_t header_bytes, header_lines;
	/* The last header's value while folded lines continue it; it goes
	 * back into header_list when a line that is not folded arrives. */
	char *fold;
	size_t fold_len, fold_cap;
	bool folding;
	bool headers_too_big;
	bool too_many_headers;
	bool oom;
};

int http_response_init(struct http_response *r);
/* Forgets what a previous hop received. */
void http_response_reset(struct http_response *r);
void http_response_done(struct http_response *r);

/* Appends body bytes, keeping at most max in all. -ENOSPC once max is
 * passed (truncated is set, the prefix kept), -ENOMEM. */
int http_response_add_body(struct http_response *r, const char *data, size_t n,
			   size_t max);
/* One header line as libcurl hands it over (with CRLF). A status line
 * starts a new block (after 1xx responses); the empty line that ends a
 * block completes it. -EMSGSIZE beyond HTTP_MAX_HEADER_BYTES or
 * HTTP_MAX_HEADER_LINES, -ENOMEM. */
int http_response_add_header(struct http_response *r, const char *line,
			     size_t n);

/* The success reply for a finished hop. NULL on ENOMEM. */
json_t *http_reply_json(CURL *easy, const struct http_response *r,
			const char *url, unsigned redirects,
			uint64_t elapsed_ms);

struct http_error {
	int err;
	char msg[512];
};

/* The code and sentence for a transfer libcurl failed with c. */
void http_error_of(CURL *easy, CURLcode c, const char *errbuf,
		   const struct http_response *r, struct http_error *ret);
