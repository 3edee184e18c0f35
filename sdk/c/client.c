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
#include "shm-client.h"

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
	/* Bound on every wait for a reply, in ms; -1 forever. */
	int timeout_ms;
	/* The fast path, once attached. */
	struct shm_client *shm;
	/* Socket requests sent and replies received, ever: a reply's
	 * clove_complete() id is its number in that order. */
	uint64_t sent_count, recv_count;
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

/* Waits up to timeout_ms (-1: no bound, and no poll at all) for input. */
static int wait_input(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (timeout_ms < 0)
		return 0;
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return negative_errno();
	}
}

/* One recv() of at most len bytes; end of stream is -ECONNRESET. */
static ssize_t read_some(int fd, void *buf, size_t len, int timeout_ms)
{
	int w = wait_input(fd, timeout_ms);
	if (w < 0)
		return w;
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
				      sizeof(c->rbuf) - c->rlen, c->timeout_ms);
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
			ssize_t n = read_some(c->fd, dst, len, c->timeout_ms);
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
	c->sent_count++;
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
	c->recv_count++;
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
	if (!c || (!payload && len > 0))
		return -EINVAL;
	if (c->shm)
		return shm_client_call(c->shm, opcode, payload, len,
				       c->timeout_ms, ret_reply, ret_len);
	if (c->broken)
		return -ENOTCONN;
	if (c->inflight_count > 0)
		return -EBUSY;

	int r = clove_send_request(c, opcode, payload, len);
	if (r < 0)
		return r;
	return clove_recv_reply(c, NULL, ret_reply, ret_len);
}

int clove_call_stream(struct clove_client *c, uint8_t opcode,
		      const void *payload, size_t len, clove_partial_fn fn,
		      void *data, void **ret_reply, size_t *ret_len)
{
	if (!c || (!payload && len > 0))
		return -EINVAL;
	if (!c->shm)
		return -EOPNOTSUPP;
	return shm_client_call_stream(c->shm, opcode, payload, len,
				      c->timeout_ms, fn, data, ret_reply,
				      ret_len);
}

unsigned clove_pending(const struct clove_client *c)
{
	if (!c)
		return 0;
	return c->inflight_count + (c->shm ? shm_client_pending(c->shm) : 0);
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
	shm_client_free(c->shm);
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
	c->timeout_ms = -1;
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

int clove_set_timeout(struct clove_client *c, int timeout_ms)
{
	if (!c || timeout_ms < -1)
		return -EINVAL;
	c->timeout_ms = timeout_ms;
	return 0;
}

/* --- the fast path: attaching (docs/shm.md §1) --- */

/* One recvmsg into the read-ahead buffer; fds passed with the bytes are
 * collected into fds (at most 2; more are closed). */
static int recv_with_fds(struct clove_client *c, int *fds, unsigned *nfds)
{
	_Alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = c->rbuf + c->rlen,
			     .iov_len = sizeof(c->rbuf) - c->rlen };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctrl,
			      .msg_controllen = sizeof(ctrl) };
	ssize_t n;

	if (iov.iov_len == 0)
		return -EPROTO;
	int r = wait_input(c->fd, c->timeout_ms);
	if (r < 0)
		return r;
	while ((n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return negative_errno();
		if ((r = wait_fd(c->fd, POLLIN)) < 0)
			return r;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (*nfds < 2)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0)
		return -ECONNRESET;
	c->rlen += (size_t)n;
	return 0;
}

/* Reads the HELLO reply and, when it has an "shm" object, the byte after
 * it; *ret_byte is -1 when no byte was due. */
static int read_hello(struct clove_client *c, int *fds, unsigned *nfds,
		      void **ret_hello, size_t *ret_len, int *ret_byte)
{
	struct proto_header h;
	int r;

	while ((r = proto_decode_header(c->rbuf + c->rpos, c->rlen - c->rpos,
					PROTO_MAX_REPLY, &h)) > 0 ||
	       (r == 0 && c->rlen - c->rpos - PROTO_HEADER_SIZE < h.payload_size))
		if ((r = recv_with_fds(c, fds, nfds)) < 0)
			return r;
	if (r < 0 || h.opcode != inflight_pop(c))
		return -EPROTO;
	c->recv_count++;
	c->agent_id = h.agent_id;
	const uint8_t *p = c->rbuf + c->rpos + PROTO_HEADER_SIZE;
	size_t plen = (size_t)h.payload_size;
	/* In valid JSON an unescaped "shm":{ can only be a key whose value is
	 * an object: the reply's shm (features.shm is a boolean). */
	bool byte_due = memmem(p, plen, "\"shm\":{", 7) != NULL;
	*ret_hello = malloc(plen + 1);
	if (!*ret_hello)
		return -ENOMEM;
	memcpy(*ret_hello, p, plen);
	((char *)*ret_hello)[plen] = '\0';
	*ret_len = plen;
	c->rpos += PROTO_HEADER_SIZE + plen;

	*ret_byte = -1;
	if (byte_due) {
		while (c->rlen == c->rpos)
			if ((r = recv_with_fds(c, fds, nfds)) < 0)
				return r;
		*ret_byte = c->rbuf[c->rpos++];
	}
	return 0;
}

int clove_shm_attach(struct clove_client *c, void **ret_hello, size_t *ret_len)
{
	static const char request[] = "{\"shm\":true}";
	int fds[2] = { -EBADF, -EBADF };
	unsigned nfds = 0;
	_cleanup_free_ void *hello = NULL;
	size_t hello_len = 0;
	int byte = -1;

	if (!c)
		return -EINVAL;
	if (c->shm)
		return -EALREADY;
	if (c->broken)
		return -ENOTCONN;
	if (c->inflight_count > 0)
		return -EBUSY;
	int r = clove_send_request(c, CLOVE_OP_HELLO, request,
				   sizeof(request) - 1);
	if (r < 0)
		return r;
	/* Nothing else is in flight: the buffer holds no other reply. */
	memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
	c->rlen -= c->rpos;
	c->rpos = 0;
	r = read_hello(c, fds, &nfds, &hello, &hello_len, &byte);
	if (r < 0) {
		c->broken = true;
	} else if (byte == 1 && nfds == 2) {
		r = shm_client_new(fds[0], fds[1], c->fd, &c->shm);
		fds[0] = fds[1] = -EBADF;
	} else {
		r = byte == 1 || (byte <= 0 && nfds > 0) ? -EPROTO : -EOPNOTSUPP;
	}
	for (unsigned i = 0; i < 2; i++)
		closep(&fds[i]);
	if (hello && ret_hello) {
		*ret_hello = take_ptr(hello);
		if (ret_len)
			*ret_len = hello_len;
	}
	return r;
}

int clove_shm_attached(const struct clove_client *c)
{
	return c && c->shm ? 1 : 0;
}

/* --- asynchronous calls --- */

int clove_submit(struct clove_client *c, uint8_t opcode, const void *payload,
		 size_t len, uint64_t *ret_id)
{
	if (!c || !ret_id || (!payload && len > 0))
		return -EINVAL;
	if (c->shm)
		return shm_client_submit(c->shm, opcode, payload, len,
					 c->timeout_ms, ret_id);
	int r = clove_send_request(c, opcode, payload, len);
	if (r < 0)
		return r;
	*ret_id = c->sent_count;
	return 0;
}

int clove_complete(struct clove_client *c, struct clove_completion *out,
		   unsigned max, int timeout_ms)
{
	unsigned n = 0;

	if (!c || (!out && max > 0) || timeout_ms < -1)
		return -EINVAL;
	if (c->shm)
		return shm_client_complete(c->shm, out, max, timeout_ms);
	/* The socket: replies in order; the first may be waited for, the
	 * rest only taken when already buffered. */
	while (n < max && c->inflight_count > 0) {
		if (!clove_reply_buffered(c)) {
			if (n > 0)
				break;
			int w = wait_input(c->fd, timeout_ms);
			if (w == -ETIMEDOUT)
				break;
			if (w < 0)
				return client_fail(c, w);
		}
		struct clove_completion *o = &out[n];
		*o = (struct clove_completion){ .id = c->recv_count + 1 };
		int r = clove_recv_reply(c, &o->opcode, &o->reply, &o->len);
		if (r == -EMSGSIZE) {
			o->error = r;
		} else if (r < 0) {
			if (n > 0)
				break;
			return r;
		}
		n++;
	}
	return (int)n;
}
