/* SPDX-License-Identifier: MIT */
/*
 * The glue between libcurl's multi-socket API and the loop (http-multi.h).
 *
 * Sockets: each socket libcurl watches gets a struct http_sock holding a
 * one-shot poll for what libcurl wants (the loop has no multishot poll,
 * and a one-shot poll armed after every action is level-triggered, which
 * is what libcurl expects). When libcurl changes its mind while a poll is
 * in flight, the poll is cancelled and re-armed from its completion. When
 * libcurl drops a socket, its http_sock is marked dead and its poll
 * cancelled at once — io_uring holds a reference on the file, so a
 * forgotten poll would keep the closed socket alive — and the struct is
 * freed only once that poll has completed (the loop's lifetime rule).
 * Dead structs are freed by reap() as a completion callback returns, never
 * while a callback further up might still be looking at them.
 *
 * Timer: libcurl asks for one deadline at a time. The loop timer is armed
 * for it; a later request for an earlier deadline cancels and re-arms it
 * from the completion; one for a later deadline just moves the due time.
 */
#include "http-multi.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "loop.h"
#include "macro.h"

/* Retry interval when the ring had no room for a poll. */
#define HTTP_REARM_MS 10

struct http_sock {
	struct http_sock *next;
	struct http_multi *m;
	struct loop_op op;
	curl_socket_t fd;
	/* POLLIN|POLLOUT libcurl waits for; 0 for nothing. */
	unsigned want;
	/* What the poll in flight waits for. */
	unsigned armed;
	bool busy, cancelling, dead;
};

struct http_multi {
	struct loop *loop;
	CURLM *multi;
	struct http_sock *socks;
	struct loop_timer timer;
	/* libcurl's deadline, and when the armed timer will fire. */
	bool due;
	uint64_t due_ms, timer_ms;
	/* A poll could not be armed: retry from the timer. */
	bool rearm;
};

static void sock_arm(struct http_sock *s);
static void timer_sync(struct http_multi *m);

/* Frees the dead sockets whose poll has completed. */
static void reap(struct http_multi *m)
{
	struct http_sock **p = &m->socks;

	while (*p) {
		struct http_sock *s = *p;
		if (s->dead && !s->busy) {
			*p = s->next;
			free(s);
		} else {
			p = &s->next;
		}
	}
}

/* Hands every finished transfer to its owner. */
static void finish_done(struct http_multi *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct http_multi_client *c = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
		if (c)
			c->done(c, result);
		else
			http_multi_remove(m, easy);
	}
}

static void action(struct http_multi *m, curl_socket_t fd, int events)
{
	int running;
	CURLMcode c = curl_multi_socket_action(m->multi, fd, events, &running);

	if (c != CURLM_OK)
		log_error("http: curl_multi_socket_action: %s",
			  curl_multi_strerror(c));
	finish_done(m);
}

static void on_poll(struct loop_op *op, int res, uint32_t flags)
{
	struct http_sock *s = container_of(op, struct http_sock, op);
	struct http_multi *m = s->m;

	s->busy = false;
	s->cancelling = false;
	if (!s->dead && m->loop && res != -ECANCELED) {
		int ev = 0;
		if (res < 0)
			ev = CURL_CSELECT_ERR;
		else {
			if (res & POLLIN)
				ev |= CURL_CSELECT_IN;
			if (res & POLLOUT)
				ev |= CURL_CSELECT_OUT;
			if (res & (POLLERR | POLLHUP))
				ev |= CURL_CSELECT_ERR;
		}
		action(m, s->fd, ev);
	}
	/* libcurl may have dropped or changed it meanwhile. */
	if (!s->dead && !s->busy)
		sock_arm(s);
	reap(m);
	if (m->loop)
		timer_sync(m);
}

static void sock_arm(struct http_sock *s)
{
	struct http_multi *m = s->m;

	if (s->dead || !m->loop || !s->want)
		return;
	if (s->busy) {
		/* Waiting for something else: cancel, re-arm on completion. */
		if (s->armed != s->want && !s->cancelling &&
		    loop_cancel(m->loop, &s->op) == 0)
			s->cancelling = true;
		return;
	}
	s->op.fn = on_poll;
	if (loop_poll(m->loop, &s->op, s->fd, s->want) < 0) {
		m->rearm = true;
		return;
	}
	s->armed = s->want;
	s->busy = true;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
		     void *socketp)
{
	struct http_multi *m = userp;
	struct http_sock *s = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (!s)
			return 0;
		s->dead = true;
		s->want = 0;
		if (s->busy && !s->cancelling && m->loop &&
		    loop_cancel(m->loop, &s->op) == 0)
			s->cancelling = true;
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1; /* libcurl fails the transfer */
		s->m = m;
		s->fd = fd;
		s->next = m->socks;
		m->socks = s;
		if (curl_multi_assign(m->multi, fd, s) != CURLM_OK) {
			s->dead = true;
			return -1;
		}
	}
	s->want = (what & CURL_POLL_IN ? POLLIN : 0) |
		  (what & CURL_POLL_OUT ? POLLOUT : 0);
	sock_arm(s);
	return 0;
}

static void on_timer(struct loop_timer *t, int res)
{
	struct http_multi *m = container_of(t, struct http_multi, timer);

	if (!m->loop)
		return;
	if (m->due && loop_now_ms() >= m->due_ms) {
		m->due = false;
		action(m, CURL_SOCKET_TIMEOUT, 0);
	}
	if (m->rearm) {
		m->rearm = false;
		for (struct http_sock *s = m->socks; s; s = s->next)
			if (!s->busy)
				sock_arm(s);
	}
	reap(m);
	timer_sync(m);
}

/* Makes the loop timer fire by libcurl's deadline (or soon, to retry
 * polls that could not be armed). */
static void timer_sync(struct http_multi *m)
{
	uint64_t now = loop_now_ms(), when;

	if (!m->due && !m->rearm)
		return;
	when = m->due ? m->due_ms : now + HTTP_REARM_MS;
	if (m->rearm)
		when = MIN(when, now + HTTP_REARM_MS);
	if (m->timer.armed) {
		if (m->timer_ms > when)
			(void)loop_timer_cancel(m->loop, &m->timer);
		return;
	}
	if (loop_timer_arm(m->loop, &m->timer, when > now ? when - now : 0) ==
	    0)
		m->timer_ms = when;
}

static int on_timeout_request(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_multi *m = userp;

	if (timeout_ms < 0) {
		m->due = false;
		return 0;
	}
	m->due = true;
	m->due_ms = loop_now_ms() + (uint64_t)timeout_ms;
	if (m->loop)
		timer_sync(m);
	return 0;
}

int http_multi_new(struct loop *l, struct http_multi **ret)
{
	static bool global_done;
	struct http_multi *m;

	/* Once per process, on the loop's thread, before any transfer (the
	 * resolver threads come later). */
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		global_done = true;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loop = l;
	m->timer.fn = on_timer;
	m->multi = curl_multi_init();
	if (!m->multi) {
		free(m);
		return -ENOMEM;
	}
	if (curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket) !=
		    CURLM_OK ||
	    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m) != CURLM_OK ||
	    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION,
			      on_timeout_request) != CURLM_OK ||
	    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m) != CURLM_OK) {
		curl_multi_cleanup(m->multi);
		free(m);
		return -EIO;
	}
	*ret = m;
	return 0;
}

int http_multi_add(struct http_multi *m, CURL *easy)
{
	CURLMcode c = curl_multi_add_handle(m->multi, easy);

	if (c == CURLM_OUT_OF_MEMORY)
		return -ENOMEM;
	return c == CURLM_OK ? 0 : -EIO;
}

void http_multi_remove(struct http_multi *m, CURL *easy)
{
	/* No reap() here: a socket of this transfer may be the one whose
	 * completion is running; on_poll() and on_timer() reap on exit. */
	(void)curl_multi_remove_handle(m->multi, easy);
}

void http_multi_detach(struct http_multi *m)
{
	if (m)
		m->loop = NULL;
}

void http_multi_free(struct http_multi *m)
{
	if (!m)
		return;
	m->loop = NULL;
	/* Closes the cached connections; their sockets are marked dead. */
	curl_multi_cleanup(m->multi);
	while (m->socks) {
		struct http_sock *s = m->socks;
		m->socks = s->next;
		free(s);
	}
	free(m);
}
