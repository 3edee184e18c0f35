/* SPDX-License-Identifier: MIT */
/*
 * The kernel's end of the shared-memory fast path (docs/shm.md). HELLO
 * with "shm" attaches a region to a connection: requests then also come in
 * through its submission ring and go through dispatch_request() like socket
 * frames (same decoding, permission check and handlers), and their replies
 * become completions tagged with the request id, in whatever order they
 * finish. The region is shared with a peer that may be hostile: every entry
 * is copied out before it is looked at, no index is trusted, and anything
 * impossible detaches the fast path of that connection alone.
 *
 * Watching: each attachment keeps one read of its eventfd (the doorbell)
 * on the io_uring loop. A doorbell makes it hot: the loop then busy-polls
 * its ring for SHM_SPIN_US after the last work before arming the doorbell
 * again, so a busy client rings no doorbell at all, and an idle kernel
 * sleeps in io_uring_enter with no timer running.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_DEFAULT_SQ (64u << 10)
#define SHM_DEFAULT_CQ (256u << 10)
#define SHM_MAX_SIZE   (4u << 20)
/* How long a ring is polled after its last work before the kernel sleeps. */
#define SHM_SPIN_US 50u
/* Entries taken from one ring per loop turn, so one client cannot starve
 * the others. */
#define SHM_POLL_BATCH 64u
/* Requests of one attachment dispatched and not yet completed into the
 * ring; beyond it the kernel stops taking entries (the ring fills: that is
 * the client's backpressure). */
#define SHM_MAX_INFLIGHT 256u

struct kernel;
struct request;
struct shm_attach;
struct shm_hub;

/* The kernel's attachments and the loop's busy-poll hook. */
int shm_hub_new(struct kernel *k, struct shm_hub **ret);
/* At exit, after the loop is freed: releases every attachment and the
 * requests it still holds. */
void shm_hub_free(struct shm_hub *h);

/*
 * HELLO's part: "encoding" (json | msgpack) for the socket from the next
 * frame on, and "shm" (true, or {"sq_size", "cq_size"}) to attach the fast
 * path. Adds "encoding" and, when asked, "shm" to reply, and arranges for
 * the byte with the fds to follow the reply. -EINVAL with a message in err
 * for a bad value, -EBUSY when the byte of an earlier HELLO is still on its
 * way (then nothing was changed).
 */
int shm_attach_hello(struct request *req, json_t *args, json_t *reply,
		     char *err, size_t errlen);

/* Stops serving the rings: the client sees kernel_state = detached with
 * err (a positive errno, 0 for an orderly end) and reason, and is woken.
 * Requests still running have their cancel hooks run (request.h); they
 * finish and their completions are dropped. */
void shm_attach_detach(struct shm_attach *a, int err, const char *reason);

/* False once a is detached: its requests' answers go nowhere. */
bool shm_attach_attached(const struct shm_attach *a);
/* True while a request taken from a's ring is unanswered or its answer is
 * not yet in the completion ring (shutdown waits for those). */
bool shm_attach_busy(const struct shm_attach *a);

/* A partial reply of req (which came over the rings): a completion with
 * req's id carrying data (taken), written before req's final one. Dropped
 * when the client lets SHM_MAX_PARTIALS or SHM_MAX_PARTIAL_BYTES pile up
 * unread — and then so are req's later partials (request.h). */
#define SHM_MAX_PARTIALS 256u
#define SHM_MAX_PARTIAL_BYTES (1u << 20) /* REQUEST_PARTIAL_MAX */
void shm_attach_partial(struct request *req, uint8_t *data, size_t len);

/* Called by conn.c when a request that came over the rings has its reply. */
void shm_attach_request_done(struct request *req);
