/* SPDX-License-Identifier: MIT */
/*
 * HTTP transfers: one request of the HTTP syscall from its first hop to
 * its reply. sys-http.c validates the request and checks the first URL;
 * this module owns the libcurl easy handle, checks the address of every
 * connection it makes (and of every reused one) against the caller's
 * network patterns, follows redirects itself — each hop checked like the
 * first before it is issued — bounds the response, and answers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel;
struct request;
struct perm_policy;
struct http_target;

/* Transfers at once, over all callers / of one caller. */
#define HTTP_MAX_TRANSFERS	  64
#define HTTP_MAX_CALLER_TRANSFERS 8
/* Redirects followed per request. */
#define HTTP_MAX_REDIRECTS 5

struct http_params {
	const char *url;
	/* url as checked by http_url_parse() and the policy. */
	const struct http_target *target;
	/* Upper case. */
	const char *method;
	/* NULL-terminated "Name: value" lines, validated (copied). */
	char *const *headers;
	/* Sent as the request body when has_body (copied). */
	const void *body;
	size_t body_len;
	bool has_body;
	/* For the whole request, redirects included. */
	uint64_t timeout_ms;
	double timeout_s;
	size_t max_bytes;
	bool follow_redirects;
	/* The caller's policy: its network list is copied, so later policy
	 * changes do not affect a running request. */
	const struct perm_policy *policy;
};

/*
 * Starts the request for req. Returns 0 once req is taken (it is answered
 * when the transfer ends, or with ECANCELED soon after its client went
 * away). Otherwise -EAGAIN (too many transfers), -ENOMEM or -EIO, nothing
 * is left behind and the caller answers req.
 */
int http_start(struct request *req, const struct http_params *p);

/* Shutdown: every running transfer stops and is answered ESHUTDOWN. */
void http_abort_all(struct kernel *k);

/* After the loop is freed: releases what is left, without replying. */
void http_free_all(struct kernel *k);
