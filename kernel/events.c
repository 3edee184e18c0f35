/* SPDX-License-Identifier: MIT */
/*
 * Event queues (events.h). An event is built once as a JSON object and
 * shared, by reference, by every queue it reaches, so a broadcast to many
 * subscribers costs one object and a node per queue.
 */
#include "events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "kernel.h"
#include "policy.h"
#include "waitq.h"

struct event_node {
	struct event_node *next;
	json_t *ev;
};

static const char *const kernel_types[] = {
	EVENT_AGENT_SPAWNED,	EVENT_AGENT_EXITED,
	EVENT_AGENT_RESTARTING, EVENT_AGENT_FAILED,
	EVENT_AGENT_PAUSED,	EVENT_AGENT_RESUMED,
	EVENT_MESSAGE_RECEIVED, EVENT_SYSCALL_BLOCKED,
	EVENT_RESOURCE_WARNING, NULL,
};

bool events_is_kernel_type(const char *type)
{
	for (unsigned i = 0; kernel_types[i]; i++)
		if (strcmp(kernel_types[i], type) == 0)
			return true;
	return false;
}

static bool sub_wants(const struct event_sub *s, const char *type)
{
	for (unsigned i = 0; i < s->ntypes; i++) {
		const char *t = s->types[i];

		if (strcmp(t, "*") == 0 || strcmp(t, type) == 0 ||
		    (strcmp(t, "custom") == 0 && !events_is_kernel_type(type)))
			return true;
	}
	return false;
}

static void node_free(struct event_node *n)
{
	json_decref(n->ev);
	free(n);
}

static void sub_push(struct event_sub *s, json_t *ev)
{
	struct event_node *n = calloc(1, sizeof(*n));

	if (!n) {
		s->dropped++;
		return;
	}
	n->ev = json_incref(ev);
	if (s->len >= EVENTS_QUEUE_MAX) {
		/* Full: the oldest goes, and the loss is counted. */
		struct event_node *old = s->head;

		s->head = old->next;
		if (!s->head)
			s->tail = NULL;
		node_free(old);
		s->len--;
		s->dropped++;
	}
	if (s->tail)
		s->tail->next = n;
	else
		s->head = n;
	s->tail = n;
	s->len++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool may_see(struct kernel *k, const struct event_sub *s,
		    uint32_t source, uint32_t only)
{
	const struct peer *p = s->peer;
	bool src_op = source && !agents_find_id(k->agents, source);

	if (only)
		return p->operator|| p->id == only;
	return policy_may_see(k, p->operator, p->id, source, src_op);
}

unsigned events_emit(struct kernel *k, const char *type, uint32_t source,
		     uint32_t only, json_t *data)
{
	struct hub *h = k->hub;
	unsigned reached = 0;
	json_t *ev;

	if (!data)
		data = json_object();
	if (!h || !h->events_subs) {
		json_decref(data);
		return 0;
	}
	ev = json_pack("{s:I, s:s, s:o, s:I, s:f}", "id",
		       (json_int_t)++h->events_seq, "type", type, "data", data,
		       "source_agent_id", (json_int_t)source, "timestamp",
		       now_s());
	if (!ev)
		return 0;
	for (struct event_sub *s = h->events_subs; s; s = s->next) {
		if (!sub_wants(s, type) || !may_see(k, s, source, only))
			continue;
		sub_push(s, ev);
		reached++;
	}
	json_decref(ev);
	/* Woken after every queue has it. An answer may close its own
	 * connection, which detaches that subscriber (never another one), so
	 * next is read first and the peer is held while its queue is woken. */
	for (struct event_sub *s = h->events_subs, *next; s; s = next) {
		struct peer *p = s->peer;

		next = s->next;
		if (!p || !s->len || !s->poll_wait.head)
			continue;
		hub_peer_ref(p);
		waitq_wake(&s->poll_wait);
		hub_peer_unref(p);
	}
	return reached;
}

struct event_sub *events_sub(struct hub *h, struct peer *p)
{
	struct event_sub *s = p->sub;

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->peer = p;
	s->next = h->events_subs;
	if (s->next)
		s->next->prev = s;
	h->events_subs = s;
	p->sub = s;
	return s;
}

int events_sub_add(struct event_sub *s, const char *type)
{
	void *types;

	for (unsigned i = 0; i < s->ntypes; i++)
		if (strcmp(s->types[i], type) == 0)
			return 0;
	if (s->ntypes >= EVENTS_MAX_TYPES)
		return -E2BIG;
	types = realloc(s->types, (s->ntypes + 1) * sizeof(*s->types));
	if (!types)
		return -ENOMEM;
	s->types = types;
	snprintf(s->types[s->ntypes++], sizeof(*s->types), "%s", type);
	return 0;
}

void events_sub_remove(struct event_sub *s, const char *type)
{
	for (unsigned i = 0; i < s->ntypes; i++)
		if (strcmp(s->types[i], type) == 0) {
			memmove(s->types[i], s->types[i + 1],
				(s->ntypes - i - 1) * sizeof(*s->types));
			s->ntypes--;
			return;
		}
}

void events_sub_clear(struct event_sub *s)
{
	free(s->types);
	s->types = NULL;
	s->ntypes = 0;
}

unsigned events_take(struct event_sub *s, unsigned max, json_t *out)
{
	unsigned n = 0;

	while (n < max && s->head) {
		struct event_node *node = s->head;

		s->head = node->next;
		if (!s->head)
			s->tail = NULL;
		s->len--;
		json_array_append(out, node->ev);
		node_free(node);
		n++;
	}
	return n;
}

void events_sub_detach(struct hub *h, struct peer *p)
{
	struct event_sub *s = p->sub;

	if (!s || !s->peer)
		return;
	waitq_cancel(&s->poll_wait, "the caller has gone");
	if (s->prev)
		s->prev->next = s->next;
	else
		h->events_subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	/* s->next stays: an emit walking the list may stand on s. */
	s->prev = NULL;
	s->peer = NULL;
	while (s->head) {
		struct event_node *n = s->head;

		s->head = n->next;
		node_free(n);
	}
	s->tail = NULL;
	s->len = 0;
	events_sub_clear(s);
}
