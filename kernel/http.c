/* SPDX-License-Identifier: MIT */
/*
 * An HTTP transfer from its first hop to its reply (http.h).
 *
 * libcurl never follows a redirect by itself (FOLLOWLOCATION stays off):
 * when a hop ends with a 3xx and a Location, the next URL is parsed and
 * checked against the caller's policy like the first, and only then
 * issued. Addresses are checked twice per hop: when libcurl opens a socket
 * (so a refused address is never even connected to) and just before the
 * request is sent (CURLOPT_PREREQFUNCTION, which also sees connections
 * libcurl reuses from its cache, opened for another caller perhaps).
 *
 * The transfer owns one libcurl easy handle, re-set for each hop. Its
 * only loop operation is the finish timer, armed when the client goes
 * away: the cancel hook may not answer (request.h), so the ECANCELED
 * reply is sent from the timer, and the transfer is freed after it.
 */
#include "http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "caller.h"
#include "clove-config.h"
#include "dispatch.h"
#include "http-multi.h"
#include "http-policy.h"
#include "http-reply.h"
#include "kernel.h"
#include "log.h"
#include "loop.h"
#include "macro.h"
#include "perm-policy.h"
#include "request.h"
#include "strv.h"

struct http_xfer {
	struct http_xfer *prev, *next;
	struct http_multi_client client;
	/* NULL once answered. */
	struct request *req;
	uint32_t caller_id;
	CURL *easy;
	/* In the multi handle. */
	bool attached;
	/* A copy: SET_PERMS during the request changes nothing for it. */
	struct perm_policy *policy;
	/* The first URL's origin, and the current hop's URL and target. */
	struct http_target origin, target;
	char *url;
	/* Upper case; may become GET on a redirect. */
	char *method;
	/* The caller's header lines; the list libcurl gets per hop. */
	char **headers;
	struct curl_slist *slist;
	bool cross_origin;
	uint8_t *body;
	size_t body_len;
	bool send_body;
	struct http_response resp;
	size_t max_bytes;
	bool follow;
	unsigned redirects;
	uint64_t started_ms, deadline_ms;
	double timeout_s;
	/* The first address refused, and why: the reply is EACCES then. */
	bool refused;
	struct perm_why why;
	char errbuf[CURL_ERROR_SIZE];
	/* Armed by the cancel hook; the reply and the free follow it. */
	struct loop_timer finish;
};

/* The live transfers and the one multi handle; cloved runs one loop on
 * one thread, so no lock. */
static struct http_xfer *xfers;
static unsigned nxfers;
static struct http_multi *multi;

static void xfer_free(struct http_xfer *x)
{
	if (!x)
		return;
	if (x->prev || xfers == x) {
		if (x->prev)
			x->prev->next = x->next;
		else
			xfers = x->next;
		if (x->next)
			x->next->prev = x->prev;
		nxfers--;
	}
	if (x->easy) {
		if (x->attached && multi)
			http_multi_remove(multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->slist);
	strv_free(x->headers);
	free(x->url);
	free(x->method);
	free(x->body);
	perm_policy_free(x->policy);
	http_response_done(&x->resp);
	free(x);
}

static void xfer_freep(struct http_xfer **x)
{
	xfer_free(*x);
}

static void xfer_detach(struct http_xfer *x)
{
	if (x->attached) {
		http_multi_remove(multi, x->easy);
		x->attached = false;
	}
}

/* Connection checks */

static int sockaddr_to_addr(const struct sockaddr *sa, struct http_addr *a)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		*a = (struct http_addr){ .family = AF_INET };
		memcpy(a->bytes, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		*a = (struct http_addr){ .family = AF_INET6 };
		memcpy(a->bytes, &in6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Keeps the first refusal: it is what the caller is told. */
static bool addr_allowed(struct http_xfer *x, const struct http_addr *a)
{
	struct perm_why why;

	if (http_policy_check_addr(&x->policy->network, &x->target, a, &why) ==
	    0)
		return true;
	if (!x->refused) {
		x->refused = true;
		x->why = why;
	}
	return false;
}

static curl_socket_t on_open_socket(void *data, curlsocktype purpose,
				    struct curl_sockaddr *sa)
{
	struct http_xfer *x = data;
	struct http_addr a;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    sockaddr_to_addr(&sa->addr, &a) < 0) {
		if (!x->refused) {
			x->refused = true;
			snprintf(x->why.msg, sizeof(x->why.msg),
				 "HTTP refused: not an IP connection");
		}
		return CURL_SOCKET_BAD;
	}
	if (!addr_allowed(x, &a))
		return CURL_SOCKET_BAD;
	/* Sockets of one agent's request never leak into a child. */
	return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

static int on_prereq(void *data, char *primary_ip, char *local_ip,
		     int primary_port, int local_port)
{
	struct http_xfer *x = data;
	struct http_addr a;

	if (http_addr_parse(primary_ip, &a) < 0 || !addr_allowed(x, &a)) {
		if (!x->refused) {
			x->refused = true;
			snprintf(x->why.msg, sizeof(x->why.msg),
				 "HTTP refused: connected to an unknown "
				 "address '%.64s'",
				 primary_ip);
		}
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* Response data */

static size_t on_body(char *ptr, size_t size, size_t n, void *data)
{
	struct http_xfer *x = data;
	int r = http_response_add_body(&x->resp, ptr, size * n, x->max_bytes);

	/* A short count makes libcurl stop with CURLE_WRITE_ERROR; the
	 * reply then says truncated (or ENOMEM). */
	return r < 0 ? 0 : size * n;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *data)
{
	struct http_xfer *x = data;

	return http_response_add_header(&x->resp, ptr, size * n) < 0 ? 0
								     : size * n;
}

/* Request set-up, per hop */

static bool header_is(const char *line, const char *name)
{
	size_t n = strlen(name);
	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Credentials given for one origin are not sent to another one a
 * redirect leads to (as browsers and libcurl itself do). */
static bool header_kept(const struct http_xfer *x, const char *line)
{
	if (!x->cross_origin)
		return true;
	return !header_is(line, "Authorization") &&
	       !header_is(line, "Proxy-Authorization") &&
	       !header_is(line, "Cookie");
}

static int build_slist(struct http_xfer *x)
{
	bool has_ct = false;
	struct curl_slist *l = NULL, *t;

	curl_slist_free_all(x->slist);
	x->slist = NULL;
	for (char **h = x->headers; h && *h; h++) {
		if (!header_kept(x, *h))
			continue;
		has_ct = has_ct || header_is(*h, "Content-Type");
		if (!(t = curl_slist_append(l, *h)))
			goto oom;
		l = t;
	}
	/* No "Expect: 100-continue" stall; no invented form Content-Type
	 * for a body the caller did not label. */
	if (!(t = curl_slist_append(l, "Expect:")))
		goto oom;
	l = t;
	if (x->send_body && !has_ct) {
		if (!(t = curl_slist_append(l, "Content-Type:")))
			goto oom;
		l = t;
	}
	x->slist = l;
	return 0;
oom:
	curl_slist_free_all(l);
	return -ENOMEM;
}

static int set_method(struct http_xfer *x)
{
	CURL *e = x->easy;
	CURLcode c = CURLE_OK;

	if (strcmp(x->method, "HEAD") == 0 && !x->send_body)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK
			       ? 0
			       : -EIO;
	if (strcmp(x->method, "GET") == 0 && !x->send_body)
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK
			       ? 0
			       : -EIO;
	if (x->send_body || strcmp(x->method, "POST") == 0) {
		/* POSTFIELDS does not copy: x->body lives as long as x. */
		c = curl_easy_setopt(
			e, CURLOPT_POSTFIELDSIZE_LARGE,
			(curl_off_t)(x->send_body ? x->body_len : 0));
		const void *data =
			x->send_body && x->body ? (const void *)x->body : "";
		if (c == CURLE_OK)
			c = curl_easy_setopt(e, CURLOPT_POSTFIELDS, data);
	}
	if (c == CURLE_OK && strcmp(x->method, "POST") != 0)
		c = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	return c == CURLE_OK ? 0 : -EIO;
}

static int setup_hop(struct http_xfer *x)
{
	CURL *e = x->easy;
	uint64_t now = loop_now_ms();
	long left = x->deadline_ms > now ? (long)(x->deadline_ms - now) : 1;
	int r;

	/* Keeps the connection cache and DNS cache, forgets the last hop. */
	curl_easy_reset(e);
	http_response_reset(&x->resp);
	x->refused = false;
	r = build_slist(x);
	if (r < 0)
		return r;
	if (curl_easy_setopt(e, CURLOPT_URL, x->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
		    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") !=
		    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    /* The kernel's environment must not route agents' requests
	     * through a proxy (whose address would be checked instead). */
	    curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    /* A transfer stopped during name resolution must not wait for
	     * the resolver thread (libcurl joins it otherwise, on our
	     * loop): the thread is left to finish on its own. */
	    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "clove/" CLOVE_VERSION) !=
		    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket) !=
		    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) !=
		    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PREREQDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) !=
		    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, &x->client) != CURLE_OK)
		return -EIO;
	x->errbuf[0] = '\0';
	return set_method(x);
}

static int start_hop(struct http_xfer *x)
{
	int r = setup_hop(x);

	if (r == 0)
		r = http_multi_add(multi, x->easy);
	if (r == 0)
		x->attached = true;
	return r;
}

/* Answers and frees x. */
static void xfer_reply(struct http_xfer *x, json_t *reply)
{
	struct request *req = x->req;

	x->req = NULL;
	req->cancel = NULL;
	xfer_detach(x);
	if (reply)
		request_reply_json(req, reply);
	else
		request_reply_error(req, -ENOMEM, "out of memory");
	xfer_free(x);
}

static void xfer_fail(struct http_xfer *x, int err, const char *fmt, ...)
	_printf_(3, 4);

static void xfer_fail(struct http_xfer *x, int err, const char *fmt, ...)
{
	struct request *req = x->req;
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->req = NULL;
	req->cancel = NULL;
	xfer_detach(x);
	if (err == -EACCES)
		dispatch_reply_denied(req, "%s", msg);
	else
		request_reply_error(req, err, "%s", msg);
	xfer_free(x);
}

/* Redirects */

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	       status == 307 || status == 308;
}

/* Does the next hop become a GET without body? 303 turns any method but
 * HEAD into one; 301 and 302 do that to POST (what every client does); 307
 * and 308 keep method and body. */
static bool redirect_to_get(const struct http_xfer *x, long status)
{
	return (status == 303 && strcmp(x->method, "HEAD") != 0) ||
	       ((status == 301 || status == 302) &&
		strcmp(x->method, "POST") == 0);
}

/* Follows the redirect the hop just ended with. True if x goes on (or
 * was answered); false if the 3xx is the answer. */
static bool follow(struct http_xfer *x, long status)
{
	char *loc = NULL;
	struct http_target next;
	struct perm_why why;
	int r;

	if (!x->follow || !is_redirect(status) ||
	    curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc) !=
		    CURLE_OK ||
	    !loc)
		return false;
	if (x->redirects >= HTTP_MAX_REDIRECTS) {
		xfer_fail(x, -ELOOP, "too many redirects (more than %d)",
			  HTTP_MAX_REDIRECTS);
		return true;
	}
	r = http_url_parse(loc, &next, &why);
	if (r == 0)
		r = http_policy_check_target(&x->policy->network, &next, &why);
	if (r < 0) {
		xfer_fail(x, r == -EINVAL ? -EPROTO : r,
			  "redirect %u to '%.300s' refused: %s",
			  x->redirects + 1, loc, why.msg);
		return true;
	}
	/* The method may change on the way: the new one needs the policy as
	 * much as the first did (a POST-only caller must not get a GET). */
	bool to_get = redirect_to_get(x, status);
	r = http_policy_check_method(&x->policy->http_methods,
				     to_get ? "GET" : x->method, &why);
	if (r < 0) {
		xfer_fail(x, r, "redirect %u to '%.300s' refused: %s",
			  x->redirects + 1, loc, why.msg);
		return true;
	}
	_cleanup_free_ char *url = strdup(loc);
	_cleanup_free_ char *get = to_get ? strdup("GET") : NULL;
	if (!url || (to_get && !get)) {
		xfer_fail(x, -ENOMEM, "out of memory");
		return true;
	}
	xfer_detach(x);
	if (to_get) {
		free(x->method);
		x->method = take_ptr(get);
		x->send_body = false;
	}
	free(x->url);
	x->url = take_ptr(url);
	if (strcmp(next.scheme, x->origin.scheme) != 0 ||
	    strcmp(next.host, x->origin.host) != 0 ||
	    next.port != x->origin.port)
		x->cross_origin = true;
	x->target = next;
	x->redirects++;
	if (loop_now_ms() >= x->deadline_ms) {
		xfer_fail(x, -ETIMEDOUT, "HTTP request timed out after %g s",
			  x->timeout_s);
		return true;
	}
	r = start_hop(x);
	if (r < 0)
		xfer_fail(x, r, "cannot start the redirected request: %s",
			  strerror(-r));
	return true;
}

static void on_done(struct http_multi_client *c, CURLcode result)
{
	struct http_xfer *x = container_of(c, struct http_xfer, client);
	long status = 0;

	if (!x->req)
		return;
	/* A refused address only matters if nothing else worked: libcurl
	 * may have gone on to another address of the name. */
	if (x->refused && result != CURLE_OK) {
		xfer_fail(x, -EACCES, "%s", x->why.msg);
		return;
	}
	if (result == CURLE_WRITE_ERROR && x->resp.truncated)
		result = CURLE_OK;
	if (result != CURLE_OK) {
		struct http_error e;
		http_error_of(x->easy, result, x->errbuf, &x->resp, &e);
		if (e.err == -ETIMEDOUT)
			xfer_fail(x, e.err, "HTTP request timed out after %g s",
				  x->timeout_s);
		else
			xfer_fail(x, e.err,
				  "HTTP request to '%.300s' failed: "
				  "%s",
				  x->url, e.msg);
		return;
	}
	(void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (follow(x, status))
		return;
	xfer_reply(x, http_reply_json(x->easy, &x->resp, x->url, x->redirects,
				      loop_now_ms() - x->started_ms));
}

/* Cancellation */

static void on_finish_timer(struct loop_timer *t, int res)
{
	struct http_xfer *x = container_of(t, struct http_xfer, finish);

	if (x->req)
		xfer_fail(x, -ECANCELED, "the client went away");
	else
		xfer_free(x);
}

/* The client is gone: the transfer stops now, the reply (dropped) and
 * the free follow from the finish timer. */
static void xfer_cancel(struct request *req)
{
	struct http_xfer *x = req->cancel_data;

	xfer_detach(x);
	if (loop_timer_arm(request_kernel(req)->loop, &x->finish, 0) < 0)
		log_error("http: cannot schedule the end of a cancelled "
			  "request; it is released at shutdown");
}

/* Start */

static unsigned caller_transfers(uint32_t id)
{
	unsigned n = 0;

	for (struct http_xfer *x = xfers; x; x = x->next)
		n += x->caller_id == id && x->req;
	return n;
}

static int copy_headers(char *const *src, char ***ret)
{
	size_t n = 0;

	while (src && src[n])
		n++;
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*ret = v;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(src[i])))
			return -ENOMEM;
	return 0;
}

static int xfer_new(struct request *req, const struct http_params *p,
		    struct http_xfer **ret)
{
	_cleanup_(xfer_freep) struct http_xfer *x = calloc(1, sizeof(*x));
	int r;

	if (!x)
		return -ENOMEM;
	x->client.done = on_done;
	x->finish.fn = on_finish_timer;
	x->req = req;
	x->caller_id = request_caller(req)->id;
	x->target = *p->target;
	x->origin = *p->target;
	x->max_bytes = p->max_bytes;
	x->follow = p->follow_redirects;
	x->timeout_s = p->timeout_s;
	x->started_ms = loop_now_ms();
	x->deadline_ms = x->started_ms + p->timeout_ms;
	x->send_body = p->has_body;
	if (!(x->url = strdup(p->url)) || !(x->method = strdup(p->method)))
		return -ENOMEM;
	if ((r = copy_headers(p->headers, &x->headers)) < 0 ||
	    (r = perm_policy_copy(p->policy, &x->policy)) < 0 ||
	    (r = http_response_init(&x->resp)) < 0)
		return r;
	if (p->has_body && p->body_len > 0) {
		if (!(x->body = malloc(p->body_len)))
			return -ENOMEM;
		memcpy(x->body, p->body, p->body_len);
		x->body_len = p->body_len;
	}
	if (!(x->easy = curl_easy_init()))
		return -ENOMEM;
	*ret = take_ptr(x);
	return 0;
}

int http_start(struct request *req, const struct http_params *p)
{
	struct kernel *k = request_kernel(req);
	_cleanup_(xfer_freep) struct http_xfer *x = NULL;
	int r;

	if (nxfers >= HTTP_MAX_TRANSFERS ||
	    caller_transfers(request_caller(req)->id) >=
		    HTTP_MAX_CALLER_TRANSFERS)
		return -EAGAIN;
	if (!multi && (r = http_multi_new(k->loop, &multi)) < 0)
		return r;
	r = xfer_new(req, p, &x);
	if (r < 0)
		return r;
	r = start_hop(x);
	if (r < 0)
		return r;
	x->next = xfers;
	if (xfers)
		xfers->prev = x;
	xfers = x;
	nxfers++;
	req->cancel = xfer_cancel;
	req->cancel_data = x;
	x = NULL;
	return 0;
}

void http_abort_all(struct kernel *k)
{
	struct http_xfer *x = xfers, *next;

	for (; x; x = next) {
		next = x->next;
		/* Cancelled ones are answered by their timer. */
		if (x->req && !x->finish.armed)
			xfer_fail(x, -ESHUTDOWN, "the kernel is shutting down");
	}
}

void http_free_all(struct kernel *k)
{
	http_multi_detach(multi);
	while (xfers)
		xfer_free(xfers);
	http_multi_free(multi);
	multi = NULL;
}
