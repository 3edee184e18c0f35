/* SPDX-License-Identifier: MIT */
/*
 * The hub (hub.h): setting up and tearing down the database and the hub
 * modules, the per-caller peer records and identities, and the hooks the
 * agent, connection and request code call when something happens. The
 * hooks fan out to the modules (mailboxes, keys, events, audit), so the
 * rest of the kernel needs to know only these few functions.
 */
#include "hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "caller.h"
#include "conn.h"
#include "db.h"
#include "events.h"
#include "kernel.h"
#include "log.h"
#include "macro.h"
#include "mailbox.h"
#include "proto.h"
#include "record.h"
#include "request.h"
#include "store.h"
#include "waitq.h"

static unsigned hub_name_bucket(const char *name)
{
	uint32_t hash = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		hash = (hash ^ *p) * 16777619u;
	return hash % HUB_PEER_BUCKETS;
}

struct peer *hub_peer(struct hub *h, uint32_t id)
{
	for (struct peer *p = h->by_id[id % HUB_PEER_BUCKETS]; p;
	     p = p->id_next)
		if (p->id == id)
			return p;
	return NULL;
}

struct peer *hub_peer_of(struct hub *h, const struct caller *c)
{
	struct peer *p = hub_peer(h, c->id);
	unsigned b = c->id % HUB_PEER_BUCKETS;

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->refs = 1;
	p->id = c->id;
	p->operator= c->role == ROLE_OPERATOR;
	p->id_next = h->by_id[b];
	h->by_id[b] = p;
	return p;
}

struct peer *hub_peer_ref(struct peer *p)
{
	p->refs++;
	return p;
}

void hub_peer_unref(struct peer *p)
{
	if (!p || --p->refs > 0)
		return;
	free(p->sub);
	free(p);
}

static void hub_wake_fired(struct loop_timer *t, int res)
{
	struct hub *h = container_of(t, struct hub, wake_timer);

	while (h->wake_list) {
		struct peer *p = h->wake_list;

		h->wake_list = p->wake_next;
		p->wake_next = NULL;
		p->wake_pending = false;
		/* Answering may drop the peer: the list's reference holds
		 * it until here. */
		waitq_wake(&p->recv_wait);
		hub_peer_unref(p);
	}
}

void hub_wake_recv(struct hub *h, struct peer *p)
{
	if (p->wake_pending || !p->recv_wait.head)
		return;
	if (!h->wake_timer.armed &&
	    loop_timer_arm(h->k->loop, &h->wake_timer, 0) < 0) {
		/* No timer: wake now rather than never. */
		hub_peer_ref(p);
		waitq_wake(&p->recv_wait);
		hub_peer_unref(p);
		return;
	}
	p->wake_pending = true;
	p->wake_next = h->wake_list;
	h->wake_list = hub_peer_ref(p);
}

struct peer *hub_peer_by_name(struct hub *h, const char *name)
{
	for (struct peer *p = h->by_name[hub_name_bucket(name)]; p;
	     p = p->name_next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static void hub_unlink_name(struct hub *h, struct peer *p)
{
	struct peer **pp;

	if (!p->name[0])
		return;
	for (pp = &h->by_name[hub_name_bucket(p->name)]; *pp;
	     pp = &(*pp)->name_next)
		if (*pp == p) {
			*pp = p->name_next;
			break;
		}
	p->name_next = NULL;
	p->name[0] = '\0';
}

void hub_peer_set_name(struct hub *h, struct peer *p, const char *name)
{
	unsigned b;

	hub_unlink_name(h, p);
	if (!name || !name[0])
		return;
	snprintf(p->name, sizeof(p->name), "%s", name);
	b = hub_name_bucket(p->name);
	p->name_next = h->by_name[b];
	h->by_name[b] = p;
}

/* Unlinks and frees the peer of id; what waits on it is cancelled. */
static void hub_peer_drop(struct hub *h, uint32_t id)
{
	struct peer **pp, *p = NULL;

	for (pp = &h->by_id[id % HUB_PEER_BUCKETS]; *pp; pp = &(*pp)->id_next)
		if ((*pp)->id == id) {
			p = *pp;
			*pp = p->id_next;
			break;
		}
	if (!p)
		return;
	hub_unlink_name(h, p);
	waitq_cancel(&p->recv_wait, "the caller has gone");
	events_sub_detach(h, p);
	hub_peer_unref(p);
}

bool hub_agent_named(const struct agent *a)
{
	char dflt[32];

	snprintf(dflt, sizeof(dflt), "agent-%u", agent_id(a));
	return strcmp(agent_name(a), dflt) != 0;
}

const char *hub_ident(struct hub *h, uint32_t id, char *buf)
{
	struct peer *p = hub_peer(h, id);
	struct agent *a;

	if (p && p->name[0]) {
		snprintf(buf, HUB_IDENT_MAX, "%s", p->name);
		return buf;
	}
	a = agents_find_id(h->k->agents, id);
	if (a && hub_agent_named(a))
		snprintf(buf, HUB_IDENT_MAX, "%s", agent_name(a));
	else
		snprintf(buf, HUB_IDENT_MAX, "#%u", id);
	return buf;
}

bool hub_name_taken(struct kernel *k, const char *name, uint32_t except_id)
{
	struct agent *a = agents_find_name(k->agents, name);
	struct peer *p;

	if (a && agent_id(a) != except_id)
		return true;
	p = k->hub ? hub_peer_by_name(k->hub, name) : NULL;
	return p && p->id != except_id;
}

/* Housekeeping every HUB_SWEEP_MS: expired keys, audit retention. */
#define HUB_SWEEP_MS 30000

static void hub_arm_sweep(struct hub *h)
{
	int r = loop_timer_arm(h->k->loop, &h->sweep, HUB_SWEEP_MS);

	if (r < 0)
		log_warn("hub: cannot arm the sweep timer: %s", strerror(-r));
}

static void hub_sweep(struct loop_timer *t, int res)
{
	struct hub *h = container_of(t, struct hub, sweep);
	int r;

	if (res == -ECANCELED || h->shutting_down)
		return;
	r = store_sweep(h);
	if (r < 0)
		log_warn("hub: removing expired keys: %s", db_errmsg(h->db));
	else if (r > 0)
		log_debug("hub: removed %d expired key(s)", r);
	r = audit_trim(h);
	if (r < 0)
		log_warn("hub: trimming the audit log: %s", db_errmsg(h->db));
	hub_arm_sweep(h);
}

int hub_new(struct kernel *k, char *err, size_t errlen)
{
	struct hub *h = calloc(1, sizeof(*h));
	char path[PATH_MAX + 16];
	int r;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->k = k;
	snprintf(path, sizeof(path), "%s/clove.db", k->cfg.state_dir);
	r = db_open(path, &h->db, err, errlen);
	if (r < 0) {
		free(h);
		return r;
	}
	r = mailbox_init(h);
	if (r == 0)
		r = store_init(h);
	if (r == 0)
		r = audit_init(h);
	if (r == 0)
		r = record_init(h);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path, db_errmsg(h->db));
		db_close(h->db);
		record_free(h);
		free(h->audit);
		free(h);
		return r;
	}
	k->hub = h;
	h->wake_timer.fn = hub_wake_fired;
	h->sweep.fn = hub_sweep;
	hub_arm_sweep(h);
	return 0;
}

void hub_shutdown(struct kernel *k)
{
	struct hub *h = k->hub;

	if (!h)
		return;
	h->shutting_down = true;
	waiters_flush_all(h);
}

void hub_free(struct kernel *k)
{
	struct hub *h = k->hub;

	if (!h)
		return;
	waiters_free_all(h);
	while (h->wake_list) {
		struct peer *p = h->wake_list;

		h->wake_list = p->wake_next;
		hub_peer_unref(p);
	}
	for (unsigned b = 0; b < HUB_PEER_BUCKETS; b++)
		while (h->by_id[b]) {
			struct peer *p = h->by_id[b];

			h->by_id[b] = p->id_next;
			events_sub_detach(h, p);
			hub_peer_unref(p);
		}
	db_close(h->db);
	record_free(h);
	free(h->audit);
	free(h);
	k->hub = NULL;
}

/* What ends with a caller: its non-persistent agent keys, its session's
 * if it is a root, and its mailbox if it has no name. */
static void hub_forget_ident(struct hub *h, uint32_t id, bool root)
{
	char ident[HUB_IDENT_MAX];
	int r;

	hub_ident(h, id, ident);
	r = store_forget(h, "agent", ident);
	if (r == 0 && root)
		r = store_forget(h, "session", ident);
	if (r < 0)
		log_warn("hub: dropping the keys of %s: %s", ident,
			 db_errmsg(h->db));
	if (ident[0] != '#')
		return;
	r = mailbox_delete(h, ident);
	if (r < 0)
		log_warn("hub: dropping mailbox %s: %s", ident,
			 db_errmsg(h->db));
}

/* Why the agent's process ended, for agent_exited: the agent module's
 * reason (exited, signal, killed, oom, pids), as LIST shows it. */
static const char *exit_reason(const struct agent *a)
{
	const char *why = agent_exit_reason(a);

	if (why)
		return why;
	if (agent_kill_requested(a))
		return "killed";
	return agent_signal(a) ? "signal" : "exited";
}

static json_t *lifecycle_data(struct kernel *k, struct agent *a,
			      enum hub_agent_change what)
{
	json_t *d = json_pack("{s:I, s:s, s:I}", "agent_id",
			      (json_int_t)agent_id(a), "name", agent_name(a),
			      "parent_id", (json_int_t)agent_parent_id(a));
	json_t *info;
	int code = agent_exit_code(a), sig = agent_signal(a);

	switch (what) {
	case HUB_AGENT_SPAWNED:
		json_object_set_new(d, "pid", json_integer(agent_pid(a)));
		break;
	case HUB_AGENT_EXITED:
	case HUB_AGENT_FAILED:
		json_object_set_new(d, "exit_code",
				    sig || code < 0 ? json_null()
						    : json_integer(code));
		json_object_set_new(d, "signal",
				    sig ? json_integer(sig) : json_null());
		json_object_set_new(
			d, "reason",
			json_string(
				what == HUB_AGENT_FAILED
					? "restart budget spent or restart failed"
					: exit_reason(a)));
		break;
	case HUB_AGENT_RESTARTING:
		info = agent_to_json(a);
		json_object_set(d, "restarts",
				json_object_get(info, "restarts"));
		json_decref(info);
		break;
	default:
		break;
	}
	return d;
}

static const char *const lifecycle_types[] = {
	[HUB_AGENT_SPAWNED] = EVENT_AGENT_SPAWNED,
	[HUB_AGENT_EXITED] = EVENT_AGENT_EXITED,
	[HUB_AGENT_RESTARTING] = EVENT_AGENT_RESTARTING,
	[HUB_AGENT_FAILED] = EVENT_AGENT_FAILED,
	[HUB_AGENT_PAUSED] = EVENT_AGENT_PAUSED,
	[HUB_AGENT_RESUMED] = EVENT_AGENT_RESUMED,
	[HUB_AGENT_ENDED] = NULL,
};

/* The original's event_type names for the audit log. */
static const char *const lifecycle_audit[] = {
	[HUB_AGENT_SPAWNED] = "AGENT_SPAWNED",
	[HUB_AGENT_EXITED] = "AGENT_EXITED",
	[HUB_AGENT_RESTARTING] = "AGENT_RESTARTING",
	[HUB_AGENT_FAILED] = "AGENT_FAILED",
	[HUB_AGENT_PAUSED] = "AGENT_PAUSED",
	[HUB_AGENT_RESUMED] = "AGENT_RESUMED",
	[HUB_AGENT_ENDED] = NULL,
};

void hub_agent_changed(struct kernel *k, struct agent *a,
		       enum hub_agent_change what)
{
	struct hub *h = k->hub;
	const char *type = lifecycle_types[what];

	if (!h)
		return;
	if (type) {
		json_t *d = lifecycle_data(k, a, what);

		audit_record(k, AUDIT_LIFECYCLE, lifecycle_audit[what], NULL,
			     agent_id(a), what != HUB_AGENT_FAILED,
			     json_incref(d), false);
		events_emit(k, type, agent_id(a), 0, d);
	}
	switch (what) {
	case HUB_AGENT_ENDED:
		hub_forget_ident(h, agent_id(a),
				 agent_root_id(a) == agent_id(a));
		hub_peer_drop(h, agent_id(a));
		break;
	default:
		break;
	}
}

void hub_conn_closed(struct kernel *k, struct conn *c)
{
	struct hub *h = k->hub;
	const struct caller *caller;

	if (!h)
		return;
	waiters_cancel_conn(h, c);
	caller = conn_caller(c);
	if (caller->role != ROLE_OPERATOR)
		return;
	hub_forget_ident(h, caller->id, true);
	hub_peer_drop(h, caller->id);
}

void hub_denied(struct request *req, const char *why)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);
	const char *name = proto_opcode_name(req->opcode);

	if (!k->hub)
		return;
	audit_record(k, AUDIT_SECURITY, "PERMISSION_DENIED", c,
		     c->role == ROLE_AGENT ? c->id : 0, false,
		     json_pack("{s:s, s:s}", "syscall", name ? name : "UNKNOWN",
			       "reason", why ? why : ""),
		     false);
	events_emit(k, EVENT_SYSCALL_BLOCKED, c->id, 0,
		    json_pack("{s:I, s:s, s:i, s:s, s:s}", "agent_id",
			      (json_int_t)c->id, "role",
			      c->role == ROLE_OPERATOR ? "operator" : "agent",
			      "opcode", req->opcode, "opcode_name",
			      name ? name : "UNKNOWN", "reason", why));
}
