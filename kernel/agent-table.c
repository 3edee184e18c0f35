/* SPDX-License-Identifier: MIT */
/*
 * The agent table: records by id (hash), live agents by name (hash), every
 * listed record in id order for LIST, and the history of ended agents, of
 * which only the AGENT_HISTORY most recent are kept. Also the reference
 * counting that lets a record outlive its place in the table while loop
 * operations on it are still in flight (see agent-internal.h).
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-internal.h"
#include "conn.h"
#include "kernel.h"
#include "log.h"
#include "sandbox.h"
#include "perm-policy.h"

bool agent_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > AGENT_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

static unsigned name_bucket(const char *name)
{
	/* FNV-1a: names are short and client-chosen; the table size caps the
	 * damage of deliberate collisions at a linear scan of live agents. */
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % AGENTS_BUCKETS;
}

void agent_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void agent_free(struct agent *a)
{
	assert(!a->waiters);
	assert(!a->conn);
	/* Its LLM usage was shown with the record; both go now. */
	llm_forget(a->k, a->id);
	agent_cgroup_free(a);
	if (a->pidfd >= 0)
		close(a->pidfd);
	if (a->status_fd >= 0)
		close(a->status_fd);
	sandbox_spec_free(a->sandbox);
	restart_budget_done(&a->budget);
	free(a->ancestors);
	free(a->python);
	free(a->script);
	agent_strv_free(a->args);
	agent_strv_free(a->env);
	free(a->log_path);
	free(a->work_dir);
	perm_policy_free(a->policy);
	free(a);
}

struct agent *agent_ref(struct agent *a)
{
	assert(a->refs > 0);
	a->refs++;
	return a;
}

void agent_unref(struct agent *a)
{
	if (!a)
		return;
	assert(a->refs > 0);
	if (--a->refs == 0)
		agent_free(a);
}

int agents_new(struct kernel *k, struct agents **ret)
{
	struct agents *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->k = k;
	*ret = t;
	return 0;
}

static void unlink_name(struct agents *t, struct agent *a)
{
	struct agent **pp = &t->by_name[name_bucket(a->name)];

	for (; *pp; pp = &(*pp)->name_next) {
		if (*pp == a) {
			*pp = a->name_next;
			a->name_next = NULL;
			return;
		}
	}
}

static void unlink_id(struct agents *t, struct agent *a)
{
	struct agent **pp = &t->by_id[a->id % AGENTS_BUCKETS];

	for (; *pp; pp = &(*pp)->id_next) {
		if (*pp == a) {
			*pp = a->id_next;
			a->id_next = NULL;
			break;
		}
	}
	if (a->prev)
		a->prev->next = a->next;
	else
		t->first = a->next;
	if (a->next)
		a->next->prev = a->prev;
	else
		t->last = a->prev;
	a->prev = a->next = NULL;
	a->listed = false;
	t->ntotal--;
}

void agents_insert(struct agents *t, struct agent *a)
{
	unsigned b = a->id % AGENTS_BUCKETS;
	unsigned nb = name_bucket(a->name);

	assert(!a->listed);
	a->id_next = t->by_id[b];
	t->by_id[b] = a;
	a->name_next = t->by_name[nb];
	t->by_name[nb] = a;
	/* Ids only grow, so appending keeps the list in id order. */
	a->prev = t->last;
	a->next = NULL;
	if (t->last)
		t->last->next = a;
	else
		t->first = a;
	t->last = a;
	a->listed = true;
	t->ntotal++;
	t->nlive++;
}

void agents_retire(struct agents *t, struct agent *a)
{
	assert(a->listed && !a->ended);
	a->ended = true;
	t->nlive--;
	unlink_name(t, a);
	a->hist_next = NULL;
	if (t->hist_tail)
		t->hist_tail->hist_next = a;
	else
		t->hist_head = a;
	t->hist_tail = a;
	t->nhist++;

	while (t->nhist > AGENT_HISTORY) {
		struct agent *old = t->hist_head;

		t->hist_head = old->hist_next;
		if (!t->hist_head)
			t->hist_tail = NULL;
		old->hist_next = NULL;
		t->nhist--;
		unlink_id(t, old);
		/* Operations still in flight keep it alive until they end. */
		agent_unref(old);
	}
}

void agent_op_begin(struct agent *a)
{
	agent_ref(a);
	a->table->ops_pending++;
}

void agent_op_end(struct agent *a)
{
	struct agents *t = a->table;

	assert(t->ops_pending > 0);
	t->ops_pending--;
	agent_unref(a);
	if (t->freed) {
		if (t->ops_pending == 0)
			free(t);
		return;
	}
	agents_check_stopped(t);
}

void agents_check_stopped(struct agents *t)
{
	void (*done)(struct kernel * k) = t->stop_done;

	if (!done || t->nlive > 0 || t->ops_pending > 0)
		return;
	t->stop_done = NULL;
	done(t->k);
}

static void agent_abandon(struct agent *a)
{
	/* Only reached when the kernel tears down without agents_stop_all()
	 * (or before it finished): nothing may outlive cloved. */
	(void)agent_cgroup_kill(a);
	if (a->pid > 0)
		(void)kill(-a->pid, SIGKILL);
	if (a->conn)
		conn_forget_agent(a->conn);
	if (!a->k->loop) {
		/* The ring is gone (cloved frees it first): connections can
		 * no longer be shut nor replies sent; the process exits. */
		a->conn = NULL;
		a->waiters = NULL;
		return;
	}
	conn_shutdown(a->conn);
	a->conn = NULL;
	while (a->waiters) {
		struct agent_waiter *w = a->waiters;

		a->waiters = w->next;
		w->fn(w, a);
	}
}

void agents_free(struct agents *t)
{
	if (!t)
		return;
	t->stopping = true;
	t->stop_done = NULL;
	while (t->first) {
		struct agent *a = t->first;

		if (!a->ended)
			agent_abandon(a);
		unlink_id(t, a);
		agent_unref(a);
	}
	t->hist_head = t->hist_tail = NULL;
	if (t->ops_pending > 0) {
		t->freed = true;
		return;
	}
	free(t);
}

struct agent *agents_find_id(struct agents *t, uint32_t id)
{
	for (struct agent *a = t->by_id[id % AGENTS_BUCKETS]; a; a = a->id_next)
		if (a->id == id)
			return a;
	return NULL;
}

struct agent *agents_find_name(struct agents *t, const char *name)
{
	for (struct agent *a = t->by_name[name_bucket(name)]; a;
	     a = a->name_next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

struct agent *agents_find_name_recent(struct agents *t, const char *name)
{
	struct agent *a = agents_find_name(t, name);

	if (a)
		return a;
	for (a = t->last; a; a = a->prev)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

bool agents_is_descendant(struct agents *t, const struct agent *a,
			  uint32_t ancestor_id)
{
	if (!a || ancestor_id == 0)
		return false;
	for (unsigned i = 0; i < a->nancestors; i++)
		if (a->ancestors[i] == ancestor_id)
			return true;
	return false;
}

uint32_t agent_root_id(const struct agent *a)
{
	return a->nancestors ? a->ancestors[a->nancestors - 1] : a->id;
}

void agents_foreach_live(struct agents *t,
			 void (*fn)(struct agent *a, void *data), void *data)
{
	for (struct agent *a = t->first; a; a = a->next)
		if (!a->ended)
			fn(a, data);
}

unsigned agents_count_running(struct agents *t)
{
	return t->nlive;
}

unsigned agents_count_total(struct agents *t)
{
	return t->ntotal;
}
