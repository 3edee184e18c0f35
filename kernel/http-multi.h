/* SPDX-License-Identifier: MIT */
/*
 * libcurl's multi-socket API driven by the io_uring loop. libcurl says
 * which sockets it waits on (CURLMOPT_SOCKETFUNCTION) and when it next
 * wants to run (CURLMOPT_TIMERFUNCTION); this module turns that into
 * one-shot polls and one loop timer, and calls curl_multi_socket_action()
 * from their completions. No thread per transfer and nothing blocks the
 * loop: name resolution is libcurl's own threaded resolver (Debian's
 * libcurl is built with it), which wakes the multi through a socket like
 * any other.
 *
 * Every easy handle added carries a struct http_multi_client as its
 * CURLOPT_PRIVATE; its done() runs, outside any libcurl callback, when the
 * transfer has finished (the handle is still in the multi then: done()
 * removes it, or re-adds it for another request).
 *
 * Errors: -errno, never logged here.
 */
#pragma once

#include <curl/curl.h>

struct loop;
struct http_multi;

struct http_multi_client {
	void (*done)(struct http_multi_client *c, CURLcode result);
};

/* A multi handle driven by l. -ENOMEM, -EIO (libcurl could not start). */
int http_multi_new(struct loop *l, struct http_multi **ret);

/* Starts the transfer of easy (configured, CURLOPT_PRIVATE set). */
int http_multi_add(struct http_multi *m, CURL *easy);
/* Stops it (its connection may stay cached for reuse). Never call from
 * inside a libcurl callback. */
void http_multi_remove(struct http_multi *m, CURL *easy);

/* The loop is going away (or gone): no more loop operations from now on. */
void http_multi_detach(struct http_multi *m);
/* After http_multi_detach() and once every easy handle is removed. */
void http_multi_free(struct http_multi *m);
