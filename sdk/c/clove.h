/* SPDX-License-Identifier: MIT */
/*
 * libclove: the C client of the Clove kernel (cloved). It connects to the
 * kernel's Unix socket (or adopts an agent's inherited connection), sends
 * request frames and reads reply frames; payloads are opaque bytes (JSON by
 * the protocol, see docs/protocol.md), so the library needs no JSON parser.
 *
 * Conventions: every function returns 0 (or a count) on success and a
 * negative errno on failure, leaves its out-parameters untouched on failure
 * and never logs or prints. Memory handed out by libclove is released with
 * clove_free().
 *
 * Thread safety: libclove has no global state. One struct clove_client must
 * be used by one thread at a time — every function taking it, including
 * clove_submit() and clove_complete() on the fast path, is unsynchronised
 * (calls on it block; serialise them with a lock of your own, as the
 * Python SDK does); different clients may be used from different threads at
 * once. clove_connect(NULL, ...) reads the environment, which is not safe
 * against a concurrent setenv() in another thread.
 *
 * The shared-memory fast path (docs/shm.md): clove_shm_attach() asks the
 * kernel for a pair of rings next to the socket. From then on clove_call(),
 * clove_submit() and clove_complete() go through the rings (no system call
 * while both sides are busy), and their payloads are msgpack instead of
 * JSON (NOOP and the EXIT reply stay raw bytes). clove_send_request() and
 * clove_recv_reply() keep using the socket (JSON).
 */
#ifndef CLOVE_H
#define CLOVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define CLOVE_EXPORT __attribute__((visibility("default")))
#else
#define CLOVE_EXPORT
#endif

/* Frame header: u32 magic, u32 agent_id, u8 opcode, u64 payload_size (LE). */
#define CLOVE_PROTO_MAGIC 0x41474E54u
#define CLOVE_HEADER_SIZE 17u
/* Largest request payload the kernel reads (1 MiB). */
#define CLOVE_MAX_REQUEST (1u << 20)
/* Largest reply payload libclove accepts (16 MiB). */
#define CLOVE_MAX_REPLY (16u << 20)
/* Most requests a client may have in flight: the kernel's own per-connection
 * limit, so a pipelining client can never deadlock against it. */
#define CLOVE_MAX_PIPELINE 64u

/* Opcodes; the numbers are the wire protocol's and never change. */
enum clove_opcode {
	CLOVE_OP_NOOP = 0x00,
	CLOVE_OP_THINK = 0x01,
	CLOVE_OP_EXEC = 0x02,
	CLOVE_OP_READ = 0x03,
	CLOVE_OP_WRITE = 0x04,
	CLOVE_OP_SPAWN = 0x10,
	CLOVE_OP_KILL = 0x11,
	CLOVE_OP_LIST = 0x12,
	CLOVE_OP_PAUSE = 0x14,
	CLOVE_OP_RESUME = 0x15,
	CLOVE_OP_SEND = 0x20,
	CLOVE_OP_RECV = 0x21,
	CLOVE_OP_BROADCAST = 0x22,
	CLOVE_OP_REGISTER = 0x23,
	CLOVE_OP_STORE = 0x30,
	CLOVE_OP_FETCH = 0x31,
	CLOVE_OP_DELETE = 0x32,
	CLOVE_OP_KEYS = 0x33,
	CLOVE_OP_GET_PERMS = 0x40,
	CLOVE_OP_SET_PERMS = 0x41,
	CLOVE_OP_HTTP = 0x50,
	CLOVE_OP_SUBSCRIBE = 0x60,
	CLOVE_OP_UNSUBSCRIBE = 0x61,
	CLOVE_OP_POLL_EVENTS = 0x62,
	CLOVE_OP_EMIT = 0x63,
	CLOVE_OP_RECORD_START = 0x70,
	CLOVE_OP_RECORD_STOP = 0x71,
	CLOVE_OP_RECORD_STATUS = 0x72,
	CLOVE_OP_REPLAY_START = 0x73,
	CLOVE_OP_REPLAY_STATUS = 0x74,
	CLOVE_OP_GET_AUDIT_LOG = 0x76,
	CLOVE_OP_SET_AUDIT_CONFIG = 0x77,
	CLOVE_OP_ASYNC_POLL = 0x80,
	CLOVE_OP_METRICS_SYSTEM = 0xC0,
	CLOVE_OP_METRICS_AGENT = 0xC1,
	CLOVE_OP_METRICS_ALL_AGENTS = 0xC2,
	CLOVE_OP_METRICS_CGROUP = 0xC3,
	CLOVE_OP_LLM_REPORT = 0xF0,
	CLOVE_OP_HELLO = 0xFE,
	CLOVE_OP_EXIT = 0xFF,
};

/* One connection to the kernel. Opaque. */
struct clove_client;

/*
 * Connects to the kernel. With a socket_path, connects to that Unix socket.
 * With NULL: uses the inherited connection named by $CLOVE_FD when set (an
 * agent's identity), else connects to the path clove_default_socket_path()
 * gives. $CLOVE_FD itself is left open and unchanged: the client works on a
 * close-on-exec duplicate, so several clients of one process may use it in
 * turn (they share one stream: one request at a time across all of them).
 * Errors: -ENAMETOOLONG (path too long for a Unix socket), -EBADF,
 * -ENOTSOCK or -EPROTOTYPE ($CLOVE_FD is not an open stream socket),
 * connect(2)'s errors (-ENOENT, -ECONNREFUSED, -EACCES, ...), -ENOMEM.
 */
CLOVE_EXPORT int clove_connect(const char *socket_path,
			       struct clove_client **ret);

/*
 * Wraps an already connected stream socket. Takes ownership of fd in every
 * case: on failure it is closed too. Errors: -EBADF, -ENOTSOCK,
 * -EPROTOTYPE (not SOCK_STREAM), -EINVAL (ret is NULL), -ENOMEM.
 */
CLOVE_EXPORT int clove_connect_fd(int fd, struct clove_client **ret);

/*
 * The socket path clove_connect(NULL, ...) uses when $CLOVE_FD is unset:
 * $CLOVE_SOCKET, else /run/clove/clove.sock for root, else
 * $XDG_RUNTIME_DIR/clove/clove.sock (/run/user/<euid>/clove/clove.sock
 * when that is unset). *ret_path is malloc'd; free it with clove_free().
 * Errors: -EINVAL (ret_path NULL), -ENOMEM.
 */
CLOVE_EXPORT int clove_default_socket_path(char **ret_path);

/*
 * Sends one request and waits for its reply (over the rings once
 * clove_shm_attach() succeeded, with msgpack payloads; else over the
 * socket). The reply must carry the same opcode (else -EPROTO). On success *ret_reply is a malloc'd copy of the
 * reply payload with a NUL byte appended (not counted in *ret_len); free it
 * with clove_free(). ret_reply and ret_len may be NULL to drop the reply.
 * Errors: -EMSGSIZE (request above CLOVE_MAX_REQUEST, or reply above
 * CLOVE_MAX_REPLY: that reply is read and dropped and the connection stays
 * usable, unless it claims more than 1 GiB), -EBUSY (pipelined requests
 * still await their replies), -ECONNRESET (the kernel closed the
 * connection), -EPROTO (not a Clove reply), -ENOTCONN (an earlier failure
 * left the connection unusable), -EPIPE and other socket errors, -ENOMEM.
 */
CLOVE_EXPORT int clove_call(struct clove_client *c, uint8_t opcode,
			    const void *payload, size_t len, void **ret_reply,
			    size_t *ret_len);

/*
 * clove_call() for a request that streams (THINK with "stream": true): fn
 * (may be NULL) is called with each partial reply's payload (msgpack, like
 * every payload on the rings; valid during the call) before the final
 * reply is returned as clove_call() returns it. Over the rings only:
 * -EOPNOTSUPP on a socket (whose partial replies are frames of their own,
 * docs/protocol.md). clove_call() on the rings drops partial replies.
 */
typedef void (*clove_partial_fn)(void *data, const void *payload, size_t len);
CLOVE_EXPORT int clove_call_stream(struct clove_client *c, uint8_t opcode,
				   const void *payload, size_t len,
				   clove_partial_fn fn, void *data,
				   void **ret_reply, size_t *ret_len);

/*
 * The two halves of clove_call(), for pipelining: send up to
 * CLOVE_MAX_PIPELINE requests, then receive their replies, which come back
 * in request order. clove_send_request() returns -EBUSY when that many are
 * in flight already. clove_recv_reply() returns -EINVAL when nothing is in
 * flight; ret_opcode (optional) receives the reply's opcode. Other errors as
 * for clove_call().
 */
CLOVE_EXPORT int clove_send_request(struct clove_client *c, uint8_t opcode,
				    const void *payload, size_t len);
CLOVE_EXPORT int clove_recv_reply(struct clove_client *c, uint8_t *ret_opcode,
				  void **ret_reply, size_t *ret_len);

/* Requests sent or submitted whose replies have not been received yet. */
CLOVE_EXPORT unsigned clove_pending(const struct clove_client *c);

/* --- the shared-memory fast path (docs/shm.md) --- */

/* Largest reply libclove reassembles from the rings (64 MiB). */
#define CLOVE_SHM_MAX_REPLY (64u << 20)

/*
 * Attaches the fast path: sends HELLO {"shm": true} on the socket, reads the
 * reply and the byte after it with the memfd and eventfd, maps the region.
 * ret_hello/ret_len (optional) receive the HELLO reply (JSON, malloc'd,
 * NUL-terminated). Must be called while the socket speaks JSON and nothing
 * is in flight. Errors: -EOPNOTSUPP (the kernel did not attach: it has no
 * fast path, or the reply's shm.reason says why; the connection stays
 * usable over the socket), -EALREADY, -EBUSY (requests in flight), -EPROTO
 * (a reply or region that does not follow the protocol), -ETIMEDOUT (see
 * clove_set_timeout), socket errors, -ENOMEM.
 */
CLOVE_EXPORT int clove_shm_attach(struct clove_client *c, void **ret_hello,
				  size_t *ret_len);

/* 1 when the fast path is attached, else 0. */
CLOVE_EXPORT int clove_shm_attached(const struct clove_client *c);

/*
 * Bounds every later wait for a reply (on the socket and on the rings) to
 * timeout_ms milliseconds; -1 (the default) waits forever. A wait that runs
 * out returns -ETIMEDOUT and leaves the client unusable (-ENOTCONN), since
 * a late reply would put it out of step. -EINVAL for c NULL.
 */
CLOVE_EXPORT int clove_set_timeout(struct clove_client *c, int timeout_ms);

/* One finished request, as clove_complete() returns it. */
struct clove_completion {
	/* The id clove_submit() gave the request. */
	uint64_t id;
	uint8_t opcode;
	/* 1 for a partial reply of a streaming request (THINK with stream:
	 * a {"partial": true, "delta"} map); the request's final completion,
	 * with partial 0, follows. (Sits in what was padding: the layout is
	 * unchanged.) */
	uint8_t partial;
	/* 0, or -EMSGSIZE when the reply was above CLOVE_SHM_MAX_REPLY
	 * (then reply is NULL: it was read and dropped). */
	int error;
	/* The reply payload, malloc'd with a NUL byte appended (not counted
	 * in len); release it with clove_free(). */
	void *reply;
	size_t len;
};

/*
 * Asynchronous, batched calls. clove_submit() queues a request and returns
 * at once with its id in *ret_id (ids are unique per client); the kernel may
 * already be working on it. clove_complete() returns up to max finished
 * requests in out — over the rings in the order they finish (match them by
 * id), over the socket in request order. It waits up to timeout_ms (-1:
 * forever, 0: not at all) for the first one and returns how many it
 * stored, 0 when the time ran out or nothing is in flight.
 *
 * On the rings many requests may be in flight (a full ring waits for room
 * while completions are read and kept); on the socket at most
 * CLOVE_MAX_PIPELINE (-EBUSY beyond). clove_call() may be mixed with them:
 * completions of other requests that arrive while it waits are kept for
 * clove_complete(). Errors as for clove_call(); over the rings also
 * -EPROTO or -ECONNRESET when the kernel detached them (the detach reason
 * is in the region header).
 */
CLOVE_EXPORT int clove_submit(struct clove_client *c, uint8_t opcode,
			      const void *payload, size_t len,
			      uint64_t *ret_id);
CLOVE_EXPORT int clove_complete(struct clove_client *c,
				struct clove_completion *out, unsigned max,
				int timeout_ms);

/*
 * libclove reads ahead: 1 when the next reply is already complete in its
 * buffer (so clove_recv_reply() will not block although clove_fd() may not
 * poll readable), 0 otherwise.
 */
CLOVE_EXPORT int clove_reply_buffered(const struct clove_client *c);

/* The agent id the kernel put in the last reply header (0 before any). */
CLOVE_EXPORT uint32_t clove_agent_id(const struct clove_client *c);

/* The connection's fd, still owned by the client (for poll() and the like;
 * reading from or writing to it directly breaks the framing). */
CLOVE_EXPORT int clove_fd(const struct clove_client *c);

/* Closes the connection and frees the client. NULL is a no-op. */
CLOVE_EXPORT void clove_close(struct clove_client *c);

/* Frees memory returned by libclove (replies, paths). NULL is a no-op. */
CLOVE_EXPORT void clove_free(void *p);

/*
 * Text for an error code: accepts -errno (as libclove returns) or errno.
 * Never NULL; the string is static.
 */
CLOVE_EXPORT const char *clove_strerror(int err);

/*
 * Maps the "code" field of a kernel error reply ("ENOENT", "EACCES", ...) to
 * its negative errno; 0 when code is NULL or names no errno.
 */
CLOVE_EXPORT int clove_errno_from_name(const char *code);

/* "NOOP", "SPAWN", ... for an opcode; NULL for a number that is none. */
CLOVE_EXPORT const char *clove_opcode_name(uint8_t opcode);

/* The library's version, e.g. "0.1.0". */
CLOVE_EXPORT const char *clove_version(void);

#ifdef __cplusplus
}
#endif

#endif /* CLOVE_H */
