/* SPDX-License-Identifier: MIT */
/*
 * Inside the kernel's fast path: the attachment and the hub, shared by
 * shm-attach.c (one attachment's rings and requests) and shm-hub.c (the
 * hot list, the loop's busy-poll hook and HELLO's negotiation).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "shm.h"

struct conn;
struct kernel;
struct request;

struct shm_hub {
	struct kernel *k;
	/* Every attachment not yet freed (attached or draining). */
	struct shm_attach *all;
	/* Attachments being busy-polled, and those made hot since the last
	 * pass; each holds a reference. */
	struct shm_attach *hot, *incoming;
	/* The clock as last read (ns): reading it costs tens of ns in a VM,
	 * so busy-polling refreshes it only every few passes. */
	uint64_t now;
	unsigned passes;
};

struct shm_attach {
	struct shm_hub *hub;
	struct shm_attach *prev, *next; /* hub->all */
	struct shm_attach *hot_next;	/* hub->hot */
	bool on_hot;
	unsigned refs;
	/* NULL once detached. */
	struct conn *conn;
	uint32_t caller_id;
	struct shm_region region;
	/* The kernel consumes the SQ and produces on the CQ. */
	struct shm_ring sq, cq;
	int efd;
	struct loop_op efd_op;
	uint64_t efd_val;
	bool efd_armed;
	/* Busy-poll until this time (ns) unless work keeps coming. */
	uint64_t hot_until;
	/* Entries are being taken: completions made meanwhile are published
	 * once at the end. */
	bool in_pass;
	/* Completions were published and the client's sleep flag not yet
	 * checked. */
	bool cq_unchecked;
	unsigned cq_batched;
	bool detached;
	/* The ring's current fragment, then the message being reassembled. */
	uint8_t *frag;
	struct shm_msg msg;
	/* Requests dispatched and not answered (linked by next/shm_prev). */
	struct request *reqs;
	/* Answered, waiting for room in the completion ring (by next);
	 * out_off bytes of the head's reply are written already. */
	struct request *out_head, *out_tail;
	/* Partial completions among them and their bytes (bounded:
	 * SHM_MAX_PARTIALS, SHM_MAX_PARTIAL_BYTES). */
	unsigned out_partials;
	size_t out_partial_bytes;
	size_t out_off;
	/* reqs + out queue. */
	unsigned inflight;
};

/* shm-attach.c */
int shm_attach_new(struct shm_hub *h, struct conn *c, uint32_t sq_size,
		   uint32_t cq_size, struct shm_attach **ret);
void shm_attach_unref(struct shm_attach *a);
/* At exit (no loop any more): frees a and the requests it holds. */
void shm_attach_free_at_exit(struct shm_attach *a);
/* One pass over the rings; true if any entry or completion moved. */
bool shm_attach_poll(struct shm_attach *a);
/* Announces sleep on the rings; false (and stays awake) if work came. */
bool shm_attach_try_sleep(struct shm_attach *a);

/* shm-hub.c */
/* Puts a on the hot list (and the loop into busy-polling). */
void shm_attach_make_hot(struct shm_attach *a);
