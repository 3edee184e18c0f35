/* SPDX-License-Identifier: MIT */
/*
 * libclove's connection: finding and connecting the kernel socket (or
 * adopting $CLOVE_FD), writing request frames and reading reply frames with
 * a read-ahead buffer, so pipelined replies cost one recv() for many. Any
 * failure that leaves the byte stream out of step with the frames marks the
 * client broken; it then only answers -ENOTCONN.
 */
#include "clove.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "proto.h"

_Static_assert(CLOVE_PROTO_MAGIC == PROTO_MAGIC, "magic");
_Static_assert(CLOVE_HEADER_SIZE == PROTO_HEADER_SIZE, "header size");
_Static_assert(CLOVE_MAX_REQUEST == PROTO_MAX_REQUEST, "request limit");
_Static_assert(CLOVE_MAX_REPLY == PROTO_MAX_REPLY, "reply limit");

/* Big enough for many small replies per recv(), small enough to embed. */
#define CLIENT_RBUF_SIZE (64u * 1024u)
/* Oversized replies up to this size are skipped; beyond, the client gives
 * the connection up rather than read forever. */
#define CLIENT_MAX_DISCARD (1ull << 30)

struct clove_client {
	int fd;
	uint32_t agent_id;
	bool broken;
	/* FIFO of the opcodes of requests in flight. */
	unsigned inflight_head;
	unsigned inflight_count;
	uint8_t inflight[CLOVE_MAX_PIPELINE];
	/* Read-ahead: bytes [rpos, rlen) of rbuf are received, not consumed. */
	size_t rpos;
	size_t rlen;
	uint8_t rbuf[CLIENT_RBUF_SIZE];
};

/* Blocks until fd is ready; only reached when the caller gave us a
 * non-blocking socket. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int r = poll(&p, 1, -1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return negative_errno();
	}
}

static int write_iov(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int r = wait_fd(fd, POLLOUT);
				if (r < 0)
					return r;
				continue;
			}
			return negative_errno();
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* One recv() of at most len bytes; end of stream is -ECONNRESET. */
static ssize_t read_some(int fd, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int r = wait_fd(fd, POLLIN);
			if (r < 0)
				return r;
			continue;
		}
		return negative_errno();
	}
}

/* Reads until at least want bytes are buffered (want <= CLIENT_RBUF_SIZE). */
static int fill_rbuf(struct clove_client *c, size_t want)
{
	if (c->rlen - c->rpos >= want)
		return 0;
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	while (c->rlen < want) {
		ssize_t n = read_some(c->fd, c->rbuf + c->rlen,
				      sizeof(c->rbuf) - c->rlen);
		if (n < 0)
			return (int)n;
		c->rlen += (size_t)n;
	}
	return 0;
}

/* Moves len payload bytes to dst (NULL: drop them), from the read-ahead
 * buffer first; large remainders go straight to dst, skipping a copy. */
static int read_payload(struct clove_client *c, uint8_t *dst, uint64_t len)
{
	while (len > 0) {
		size_t avail = c->rlen - c->rpos;
		if (avail == 0 && dst && len >= sizeof(c->rbuf) / 2) {
			ssize_t n = read_some(c->fd, dst, len);
			if (n < 0)
				return (int)n;
			dst += n;
			len -= (uint64_t)n;
			continue;
		}
		if (avail == 0) {
			int r = fill_rbuf(c, 1);
			if (r < 0)
				return r;
			avail = c->rlen - c->rpos;
		}
		size_t take = (size_t)MIN((uint64_t)avail, len);
		if (dst) {
			memcpy(dst, c->rbuf + c->rpos, take);
			dst += take;
		}
		c->rpos += take;
		len -= take;
	}
	return 0;
}

static int client_fail(struct clove_client *c, int r)
{
	c->broken = true;
	return r;
}

int clove_send_request(struct clove_client *c, uint8_t opcode,
		       const void *payload, size_t len)
{
	uint8_t header[PROTO_HEADER_SIZE];

	if (!c || (!payload && len > 0))
		return -EINVAL;
	if (c->broken)
		return -ENOTCONN;
	if (len > PROTO_MAX_REQUEST)
		return -EMSGSIZE;
	if (c->inflight_count >= CLOVE_MAX_PIPELINE)
		return -EBUSY;

	/* The kernel ignores agent_id in requests; 0 says "whoever I am". */
	proto_encode_header(header, 0, opcode, len);
	struct iovec iov[2] = {
		{ .iov_base = header, .iov_len = sizeof(header) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	int r = write_iov(c->fd, iov, len > 0 ? 2 : 1);
	if (r < 0)
		return client_fail(c, r);

	unsigned tail =
		(c->inflight_head + c->inflight_count) % CLOVE_MAX_PIPELINE;
	c->inflight[tail] = opcode;
	c->inflight_count++;
	return 0;
}

static uint8_t inflight_pop(struct clove_client *c)
{
	uint8_t opcode = c->inflight[c->inflight_head];
	c->inflight_head = (c->inflight_head + 1) % CLOVE_MAX_PIPELINE;
	c->inflight_count--;
	return opcode;
}

int clove_recv_reply(struct clove_client *c, uint8_t *ret_opcode,
		     void **ret_reply, size_t *ret_len)
{
	struct proto_header h;

	if (!c)
		return -EINVAL;
	if (c->broken)
		return -ENOTCONN;
	if (c->inflight_count == 0)
		return -EINVAL;

	int r = fill_rbuf(c, PROTO_HEADER_SIZE);
	if (r < 0)
		return client_fail(c, r);
	r = proto_decode_header(c->rbuf + c->rpos, PROTO_HEADER_SIZE,
				UINT64_MAX, &h);
	if (r != 0)
		return client_fail(c, -EPROTO);
	c->rpos += PROTO_HEADER_SIZE;
	if (h.opcode != inflight_pop(c))
		return client_fail(c, -EPROTO);
	c->agent_id = h.agent_id;

	/* A reply we refuse to hold is still read, so the next one lines up;
	 * but no sane kernel sends a gigabyte, so that is a broken stream. */
	uint8_t *reply = NULL;
	int err = 0;
	if (h.payload_size > CLIENT_MAX_DISCARD)
		return client_fail(c, -EMSGSIZE);
	if (h.payload_size > PROTO_MAX_REPLY)
		err = -EMSGSIZE;
	else if (ret_reply && !(reply = malloc(h.payload_size + 1)))
		err = -ENOMEM;
	r = read_payload(c, reply, h.payload_size);
	if (r < 0) {
		free(reply);
		return client_fail(c, r);
	}
	if (err < 0)
		return err;

	if (reply)
		reply[h.payload_size] = '\0';
	if (ret_opcode)
		*ret_opcode = h.opcode;
	if (ret_reply)
		*ret_reply = reply;
	if (ret_len)
		*ret_len = h.payload_size;
	return 0;
}

int clove_call(struct clove_client *c, uint8_t opcode, const void *payload,
	       size_t len, void **ret_reply, size_t *ret_len)
{
	if (!c)
		return -EINVAL;
	if (c->broken)
		return -ENOTCONN;
	if (c->inflight_count > 0)
		return -EBUSY;

	int r = clove_send_request(c, opcode, payload, len);
	if (r < 0)
		return r;
	return clove_recv_reply(c, NULL, ret_reply, ret_len);
}

unsigned clove_pending(const struct clove_client *c)
{
	return c ? c->inflight_count : 0;
}

int clove_reply_buffered(const struct clove_client *c)
{
	struct proto_header h;

	if (!c || c->broken)
		return 0;
	size_t avail = c->rlen - c->rpos;
	if (proto_decode_header(c->rbuf + c->rpos, avail, UINT64_MAX, &h) != 0)
		return 0;
	return avail - PROTO_HEADER_SIZE >= h.payload_size;
}

uint32_t clove_agent_id(const struct clove_client *c)
{
	return c ? c->agent_id : 0;
}

int clove_fd(const struct clove_client *c)
{
	return c ? c->fd : -EBADF;
}

void clove_close(struct clove_client *c)
{
	if (!c)
		return;
	closep(&c->fd);
	free(c);
}

void clove_free(void *p)
{
	free(p);
}

/* Only a stream socket carries frames; anything else is refused early. */
static int check_stream_socket(int fd)
{
	struct stat st;
	int type;
	socklen_t type_len = sizeof(type);

	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0)
		return negative_errno();
	if (type != SOCK_STREAM)
		return -EPROTOTYPE;
	return 0;
}

int clove_connect_fd(int fd, struct clove_client **ret)
{
	_cleanup_close_ int owned = fd;

	if (fd < 0)
		return -EBADF;
	if (!ret)
		return -EINVAL;
	int r = check_stream_socket(fd);
	if (r < 0)
		return r;

	struct clove_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = take_fd(owned);
	*ret = c;
	return 0;
}

/*
 * $CLOVE_FD: a decimal fd number the kernel left open for this agent. The
 * client works on a close-on-exec duplicate and leaves the inherited fd as
 * it is, so every client of the process (libclove or the Python SDK) can
 * connect through it, one request at a time, and closing one client does
 * not cut the others off.
 */
static int connect_inherited(const char *value, struct clove_client **ret)
{
	char *end;

	errno = 0;
	long fd = strtol(value, &end, 10);
	if (errno || end == value || *end || fd < 0 || fd > INT_MAX)
		return -EBADF;
	int r = check_stream_socket((int)fd);
	if (r < 0)
		return r;
	int dup_fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return negative_errno();
	return clove_connect_fd(dup_fd, ret);
}

int clove_default_socket_path(char **ret_path)
{
	const char *env = secure_getenv("CLOVE_SOCKET");
	char *path = NULL;

	if (!ret_path)
		return -EINVAL;
	if (env && *env)
		path = strdup(env);
	else if (geteuid() == 0)
		path = strdup("/run/clove/clove.sock");
	else {
		/* pam_systemd's runtime directory when the variable is lost,
		 * as the Python SDK does. */
		const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
		int n = xdg && xdg[0] == '/'
				? asprintf(&path, "%s/clove/clove.sock", xdg)
				: asprintf(&path,
					   "/run/user/%u/clove/clove.sock",
					   (unsigned)geteuid());
		if (n < 0)
			path = NULL;
	}
	if (!path)
		return -ENOMEM;
	*ret_path = path;
	return 0;
}

static int connect_path(const char *path, struct clove_client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	/* A Unix connect() interrupted while the listener's backlog is full
	 * was abandoned, so trying again is correct. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EISCONN)
			break;
		return negative_errno();
	}
	return clove_connect_fd(take_fd(fd), ret);
}

int clove_connect(const char *socket_path, struct clove_client **ret)
{
	if (!ret)
		return -EINVAL;
	if (socket_path)
		return connect_path(socket_path, ret);

	const char *fd = secure_getenv("CLOVE_FD");
	if (fd && *fd)
		return connect_inherited(fd, ret);

	_cleanup_free_ char *path = NULL;
	int r = clove_default_socket_path(&path);
	if (r < 0)
		return r;
	return connect_path(path, ret);
}
