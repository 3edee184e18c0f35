/* SPDX-License-Identifier: MIT */
/*
 * Durable mailboxes in the hub's database: table messages, one row per
 * message, keyed by the recipient's identity (hub.h). Bounded: at most
 * MAILBOX_MAX_MESSAGES per mailbox and MAILBOX_MAX_TOTAL in all; a full
 * mailbox refuses with -EAGAIN (backpressure: the sender decides). A
 * message is removed in the same transaction that reads it for RECV, so
 * it is delivered at most once and, once stored, survives a kernel crash.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct hub;

#define MAILBOX_MAX_MESSAGES 1000
#define MAILBOX_MAX_TOTAL    100000
/* Of one message's JSON text. */
#define MAILBOX_MAX_BYTES (64 * 1024)
/* Messages one RECV returns at most. */
#define MAILBOX_MAX_RECV 256

/* The sender, as stored with each message. */
struct mailbox_from {
	uint32_t id;
	/* NULL when the sender has no name. */
	const char *name;
};

/*
 * Stores body (JSON text of len bytes) in mailbox. *ret_id is the message
 * id. -EAGAIN: the mailbox (or the kernel-wide store) is full.
 */
int mailbox_put(struct hub *h, const char *mailbox,
		const struct mailbox_from *from, const char *body, size_t len,
		int64_t *ret_id);

/*
 * Removes and returns up to max messages of mailbox, oldest first, as
 * objects {id, from, from_name, message, sent_at, age_ms} appended to out.
 * Returns how many, or -errno (then nothing was removed).
 */
int mailbox_take(struct hub *h, const char *mailbox, unsigned max, json_t *out);

/* Messages waiting in mailbox, counted up to limit. */
int mailbox_count(struct hub *h, const char *mailbox, unsigned limit);

/* Drops every message of mailbox. */
int mailbox_delete(struct hub *h, const char *mailbox);
/* Moves the messages of from into to (REGISTER: identity changed). */
int mailbox_rename(struct hub *h, const char *from, const char *to);

/* At start: drops the "#<id>" mailboxes of a previous run and counts
 * what is stored. */
int mailbox_init(struct hub *h);

/* For BROADCAST: one transaction around several mailbox_put() calls. */
int mailbox_batch_begin(struct hub *h);
int mailbox_batch_end(struct hub *h, int r);
