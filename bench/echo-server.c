/* SPDX-License-Identifier: MIT */
/*
 * The baseline every kernel latency is compared to: a byte echo over a
 * Unix stream socket built on the very loop cloved uses (kernel/core/loop.h:
 * multishot accept, multishot recv into the provided-buffer ring, send), in
 * a child process of its own just like cloved. It parses nothing and
 * allocates nothing per message, so the gap between it and cloved is what
 * the kernel's request path (framing, dispatch, reply building, ordering)
 * costs on top of the same syscalls.
 *
 * Received bytes must leave the loop's buffer before the callback returns,
 * and a send in flight may still read its buffer, so each connection has
 * two output buffers: one being sent, one collecting what arrives meanwhile.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "loop.h"
#include "macro.h"

struct echo_buf {
	uint8_t *data;
	size_t len, off, cap;
};

struct echo_conn {
	struct loop *l;
	int fd;
	struct loop_op recv_op;
	struct loop_op send_op;
	bool recv_armed, sending, eof;
	struct echo_buf cur, next;
};

struct echo_server {
	struct loop *l;
	int fd;
	struct loop_op accept_op;
};

static void on_recv(struct loop_op *op, int res, uint32_t flags);
static void on_send(struct loop_op *op, int res, uint32_t flags);

static void conn_maybe_free(struct echo_conn *c)
{
	if (!c->eof || c->recv_armed || c->sending)
		return;
	close(c->fd);
	free(c->cur.data);
	free(c->next.data);
	free(c);
}

static int buf_append(struct echo_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = MAX(b->cap * 2, (size_t)4096);
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* Sends what is left of cur, or swaps in next when cur is done. */
static void start_send(struct echo_conn *c)
{
	if (c->sending || c->eof)
		return;
	if (c->cur.off == c->cur.len) {
		struct echo_buf t = c->cur;
		c->cur = c->next;
		c->next = t;
		c->next.len = c->next.off = 0;
	}
	if (c->cur.off == c->cur.len)
		return;
	if (loop_send(c->l, &c->send_op, c->fd, c->cur.data + c->cur.off,
		      c->cur.len - c->cur.off) == 0)
		c->sending = true;
	else
		c->eof = true;
}

static void arm_recv(struct echo_conn *c)
{
	if (c->eof || c->recv_armed)
		return;
	if (loop_recv(c->l, &c->recv_op, c->fd) == 0)
		c->recv_armed = true;
	else
		c->eof = true;
}

static void on_recv(struct loop_op *op, int res, uint32_t flags)
{
	struct echo_conn *c = container_of(op, struct echo_conn, recv_op);

	if (!loop_more(flags))
		c->recv_armed = false;
	if (res > 0) {
		const void *data = loop_buf(c->l, flags);
		if (buf_append(&c->next, data, (size_t)res) < 0)
			c->eof = true;
		loop_buf_put(c->l, flags);
		start_send(c);
	} else if (res != -ENOBUFS) {
		c->eof = true;
	}
	arm_recv(c);
	conn_maybe_free(c);
}

static void on_send(struct loop_op *op, int res, uint32_t flags)
{
	struct echo_conn *c = container_of(op, struct echo_conn, send_op);

	c->sending = false;
	if (res < 0)
		c->eof = true;
	else
		c->cur.off += (size_t)res;
	start_send(c);
	conn_maybe_free(c);
}

static void on_accept(struct loop_op *op, int res, uint32_t flags)
{
	struct echo_server *s = container_of(op, struct echo_server, accept_op);

	if (res >= 0) {
		struct echo_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(res);
		} else {
			c->l = s->l;
			c->fd = res;
			c->recv_op.fn = on_recv;
			c->send_op.fn = on_send;
			arm_recv(c);
			conn_maybe_free(c);
		}
	}
	if (!loop_more(flags) && loop_accept(s->l, &s->accept_op, s->fd) < 0)
		loop_quit(s->l);
}

/* The child's whole life: serve until killed. */
static void __attribute__((noreturn)) serve(int fd)
{
	struct echo_server s = { .fd = fd, .accept_op.fn = on_accept };

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	if (loop_new(&s.l) < 0 || loop_accept(s.l, &s.accept_op, fd) < 0)
		_exit(1);
	_exit(loop_run(s.l) < 0 ? 1 : 0);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 128) < 0)
		return negative_errno();
	return take_fd(fd);
}

int echo_server_start(const char *path, pid_t *ret_pid)
{
	_cleanup_close_ int fd = listen_on(path);
	if (fd < 0)
		return fd;

	pid_t pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0)
		serve(fd);
	*ret_pid = pid;
	return 0;
}

int echo_server_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	return take_fd(fd);
}

void echo_server_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
}
