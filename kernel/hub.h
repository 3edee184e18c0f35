/* SPDX-License-Identifier: MIT */
/*
 * The hub: what agents share through the kernel — durable mailboxes, the
 * key-value store, events, the audit log, record and replay — and the
 * per-caller records ("peers") they hang off. It owns the database. Other
 * modules tell it what happened through the hub_* hooks below; each hook
 * is a no-op while the hub does not exist.
 *
 * Identity: a caller's *mailbox identity* (also the owner of its agent-
 * scoped keys) is its name when it has one — the name given at SPAWN, or
 * one taken with REGISTER — else "#<id>". Named identities are durable:
 * after a kernel restart, an agent spawned under the same name finds its
 * mailbox and persisted keys. "#<id>" identities die with their caller
 * (agents do not outlive a kernel restart), and leftovers are purged at
 * start.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "loop.h"

struct kernel;
struct conn;
struct caller;
struct request;
struct db;
struct waiter;
struct audit;
struct recorder;
struct rec_save;

/* "#4294967295" or a name of at most AGENT_NAME_MAX characters. */
#define HUB_IDENT_MAX (AGENT_NAME_MAX + 1)

/* Waiters of one kind on one peer, oldest first. */
struct waitq {
	struct waiter *head, *tail;
};

/* What the hub keeps per caller (agent id or operator connection id). */
struct peer {
	struct peer *id_next;
	struct peer *name_next;
	/* The table holds one; so does whoever wakes its queues, because an
	 * answer can close the connection, which drops the peer. */
	unsigned refs;
	uint32_t id;
	bool operator;
	/* Taken with REGISTER; "" when none. */
	char name[AGENT_NAME_MAX + 1];
	/* RECV requests waiting for a message. */
	struct waitq recv_wait;
	/* Events: subscriptions and queue (events.c). */
	struct event_sub *sub;
	/* On hub->wake_list (holding a reference) until its RECVs are
	 * offered what arrived. */
	struct peer *wake_next;
	bool wake_pending;
};

#define HUB_PEER_BUCKETS 256u

struct hub {
	struct kernel *k;
	struct db *db;
	struct peer *by_id[HUB_PEER_BUCKETS];
	struct peer *by_name[HUB_PEER_BUCKETS];
	/* Every allocated waiter (waitq.c). */
	struct waiter *waiters;
	/* Messages stored in all mailboxes, and added since the last
	 * mailbox_batch_begin() (undone if the batch rolls back). */
	int64_t total_messages;
	int64_t batch_added;
	/* The last version the key-value store handed out (store.c). */
	int64_t kv_rev;
	/* Subscribers (events.c), and the last event id. */
	struct event_sub *events_subs;
	uint64_t events_seq;
	struct audit *audit;
	struct recorder *rec;
	struct rec_save *saving;
	/* Periodic housekeeping (expired keys, audit retention). */
	struct loop_timer sweep;
	/* Peers whose mailbox got messages in this loop iteration; their
	 * waiting RECVs are answered together on the next one, so a burst
	 * of SENDs is taken in one transaction instead of one each. */
	struct peer *wake_list;
	struct loop_timer wake_timer;
	bool shutting_down;
};

/*
 * Opens <state_dir>/clove.db and sets up every hub module. On failure err
 * says what failed. The hub lives in k->hub.
 */
int hub_new(struct kernel *k, char *err, size_t errlen);
/* Kernel shutdown begins: every waiting request is answered now. */
void hub_shutdown(struct kernel *k);
/* After the loop is freed: releases everything, closes the database. */
void hub_free(struct kernel *k);

/* Peers. hub_peer() returns NULL when the caller has none. */
struct peer *hub_peer(struct hub *h, uint32_t id);
/* Something arrived in p's mailbox: its waiting RECVs are woken soon
 * (on the next loop iteration). */
void hub_wake_recv(struct hub *h, struct peer *p);
/* The caller's peer, created if needed (NULL on ENOMEM). */
struct peer *hub_peer_of(struct hub *h, const struct caller *c);
/* The live caller that registered name, or NULL. */
struct peer *hub_peer_by_name(struct hub *h, const char *name);
struct peer *hub_peer_ref(struct peer *p);
void hub_peer_unref(struct peer *p);
/* Sets or clears (name "") p's registered name. */
void hub_peer_set_name(struct hub *h, struct peer *p, const char *name);

/* An agent's name counts as a name unless it is the default agent-<id>. */
bool hub_agent_named(const struct agent *a);
/* The identity of caller id (agent or operator); buf of HUB_IDENT_MAX. */
const char *hub_ident(struct hub *h, uint32_t id, char *buf);
/* True when name is taken: a live agent's, or registered by a caller
 * other than except_id. */
bool hub_name_taken(struct kernel *k, const char *name, uint32_t except_id);

/* --- hooks called by the rest of the kernel --- */

enum hub_agent_change {
	HUB_AGENT_SPAWNED,
	/* A process of the agent ended (it may still restart). */
	HUB_AGENT_EXITED,
	HUB_AGENT_RESTARTING,
	HUB_AGENT_FAILED,
	HUB_AGENT_PAUSED,
	HUB_AGENT_RESUMED,
	/* The agent will not run again (exited, killed or failed). */
	HUB_AGENT_ENDED,
};

void hub_agent_changed(struct kernel *k, struct agent *a,
		       enum hub_agent_change what);
/* A connection stops: its waiting requests are cancelled; an operator's
 * peer, mailbox and keys go. */
void hub_conn_closed(struct kernel *k, struct conn *c);
/* req is being refused with EACCES for reason why (audit, event). */
void hub_denied(struct request *req, const char *why);
/* Dispatch is about to call req's handler with args: the hub takes what
 * it needs (audit, recording). False: the hub answered req itself (a
 * replayed response) and the handler must not run. */
bool hub_request_begin(struct request *req, json_t *args);
/* req has its reply (data, len); request.c calls this when req->hub_note
 * is set. */
void hub_request_done(struct request *req, const uint8_t *data, size_t len);
