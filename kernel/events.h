/* SPDX-License-Identifier: MIT */
/*
 * Events: callers SUBSCRIBE to event types and POLL_EVENTS their queue.
 * The kernel emits lifecycle events (agent_spawned, agent_exited, ...),
 * message_received and syscall_blocked through events_emit(); agents and
 * operators EMIT their own. Each subscriber's queue holds at most
 * EVENTS_QUEUE_MAX events; beyond that the oldest is dropped and counted,
 * and the count is reported (and reset) by the next POLL_EVENTS. Events
 * live in memory only: the audit log is the durable record.
 *
 * Visibility follows policy_may_see(): operators see everything, an agent
 * sees events about its own tree and from the kernel and operators.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hub.h"

struct kernel;

#define EVENTS_QUEUE_MAX 1024
#define EVENTS_MAX_TYPES 64
#define EVENTS_TYPE_MAX	 64
#define EVENTS_MAX_POLL	 1000
/* Of EMIT's data, as JSON text. */
#define EVENTS_MAX_DATA (16 * 1024)

/* The kernel's own event types (EMIT may not use them). */
#define EVENT_AGENT_SPAWNED    "agent_spawned"
#define EVENT_AGENT_EXITED     "agent_exited"
#define EVENT_AGENT_RESTARTING "agent_restarting"
#define EVENT_AGENT_FAILED     "agent_failed"
#define EVENT_AGENT_PAUSED     "agent_paused"
#define EVENT_AGENT_RESUMED    "agent_resumed"
#define EVENT_MESSAGE_RECEIVED "message_received"
#define EVENT_SYSCALL_BLOCKED  "syscall_blocked"
#define EVENT_RESOURCE_WARNING "resource_warning"

/* One subscriber (a peer's events state). */
struct event_sub {
	struct event_sub *next, *prev;
	struct peer *peer;
	/* Types subscribed to; "*" is every type, "custom" every type that
	 * is not the kernel's. */
	char (*types)[EVENTS_TYPE_MAX + 1];
	unsigned ntypes;
	struct event_node *head, *tail;
	unsigned len;
	uint64_t dropped;
	/* POLL_EVENTS waiting for an event. */
	struct waitq poll_wait;
};

/* True for the kernel's own types. */
bool events_is_kernel_type(const char *type);

/*
 * Emits an event of type about source (an agent or operator id; 0 is the
 * kernel) to every subscriber that may see it; only, when not 0, limits it
 * to that caller and operators. Takes ownership of data (NULL: {}).
 * Returns how many queues it reached.
 */
unsigned events_emit(struct kernel *k, const char *type, uint32_t source,
		     uint32_t only, json_t *data);

/* The subscriber state of p, created on demand (NULL on ENOMEM). */
struct event_sub *events_sub(struct hub *h, struct peer *p);
/* Adds / removes one type. -E2BIG: EVENTS_MAX_TYPES reached. */
int events_sub_add(struct event_sub *s, const char *type);
void events_sub_remove(struct event_sub *s, const char *type);
void events_sub_clear(struct event_sub *s);
/* Moves up to max events into out (a JSON array); returns how many. */
unsigned events_take(struct event_sub *s, unsigned max, json_t *out);
/* p is going: its waiting polls are cancelled, it leaves the subscriber
 * list and its queue is emptied; p->sub is freed with p. */
void events_sub_detach(struct hub *h, struct peer *p);
