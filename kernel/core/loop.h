/* SPDX-License-Identifier: MIT */
/*
 * The io_uring event loop: one per thread, single issuer. Every socket, pipe
 * and file operation of cloved goes through it. Owners embed a struct
 * loop_op per in-flight operation; its fn runs once per completion, after
 * the whole batch of completions has been reaped (so a callback may submit,
 * cancel or free other objects without disturbing the reap). An owner must
 * stay alive until every op it submitted has delivered its last completion
 * (for multishot ops: the one without IORING_CQE_F_MORE) — count them.
 *
 * Errors: every function returns 0 or -errno and never logs.
 */
#pragma once

#include <linux/time_types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct loop_op;
struct open_how;
struct msghdr;

/* res is the CQE result (bytes, fd, or -errno); flags the CQE flags. */
typedef void (*loop_op_fn)(struct loop_op *op, int res, uint32_t flags);

struct loop_op {
	loop_op_fn fn;
};

struct loop_timer;
/* res is -ETIME when the timer fired, -ECANCELED when it was cancelled. */
typedef void (*loop_timer_fn)(struct loop_timer *t, int res);

/* A one-shot timer with the storage its timespec needs while queued. Set fn
 * once; armed is true from loop_timer_arm() until just before fn runs. */
struct loop_timer {
	struct loop_op op;
	loop_timer_fn fn;
	struct __kernel_timespec ts;
	bool armed;
};

/* True when a multishot op will deliver more completions. */
bool loop_more(uint32_t cqe_flags);

/*
 * Sets up the ring (SINGLE_ISSUER|DEFER_TASKRUN, falling back to
 * COOP_TASKRUN, then to none) and the receive buffer ring.
 * -EPERM / -ENOSYS mean io_uring is not allowed here: see loop_explain().
 */
int loop_new(struct loop **ret);
void loop_free(struct loop *l);

/* A sentence naming why io_uring could not be set up and how to fix it. */
const char *loop_explain(int err);

/* Runs until loop_quit(). Returns 0, or -errno if waiting itself failed. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);

/* Submits what is queued without waiting (e.g. before a blocking fork). */
int loop_flush(struct loop *l);

/* Multishot accept; new fds are O_CLOEXEC. res = fd or -errno. */
int loop_accept(struct loop *l, struct loop_op *op, int fd);

/*
 * Multishot recv into the loop's buffer ring. On res > 0 the data is at
 * loop_buf(l, flags) and must be handed back with loop_buf_put() before the
 * callback returns. res == 0 is EOF; -ENOBUFS means the ring ran dry and the
 * recv must be armed again.
 */
int loop_recv(struct loop *l, struct loop_op *op, int fd);
const void *loop_buf(struct loop *l, uint32_t flags);
void loop_buf_put(struct loop *l, uint32_t flags);

int loop_send(struct loop *l, struct loop_op *op, int fd, const void *buf,
	      size_t len);
/* msg (and what it points to: iovecs, control data) must stay valid until
 * the completion. res = bytes sent. */
int loop_sendmsg(struct loop *l, struct loop_op *op, int fd,
		 const struct msghdr *msg);
/* off = -1: use and advance the file position (pipes, sockets). */
int loop_read(struct loop *l, struct loop_op *op, int fd, void *buf,
	      size_t len, int64_t off);
int loop_write(struct loop *l, struct loop_op *op, int fd, const void *buf,
	       size_t len, int64_t off);
/* One-shot poll; res = revents. */
int loop_poll(struct loop *l, struct loop_op *op, int fd, unsigned events);
/* how and path must stay valid until the completion. res = fd. */
int loop_openat2(struct loop *l, struct loop_op *op, int dfd, const char *path,
		 struct open_how *how);

/* Arms t to fire after ms milliseconds; arming an armed timer is a
 * programmer error. */
int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t ms);
/* Asks the kernel to cancel t; its fn still runs, with -ECANCELED. */
int loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Cancels op (any kind); its fn runs with -ECANCELED (or its real result
 * if it finished first). */
int loop_cancel(struct loop *l, struct loop_op *op);

/*
 * Busy-polling (the shared-memory fast path). While fn returns true the loop
 * does not sleep: every turn it runs the callbacks, then fn; it enters the
 * kernel only when there is something to submit or LOOP_POLL_ENTER_US have
 * passed, so other completions are still delivered. Once fn returns false
 * the loop sleeps again until loop_poll_wake(). One hook per loop.
 */
#define LOOP_POLL_ENTER_US 20
typedef bool (*loop_poll_fn)(void *data);
void loop_set_poll(struct loop *l, loop_poll_fn fn, void *data);
/* Makes the loop call the poll hook from its next turn on. */
void loop_poll_wake(struct loop *l);

/* Monotonic milliseconds. */
uint64_t loop_now_ms(void);
