/* SPDX-License-Identifier: MIT */
/*
 * resource_warning: while an agent with an enforced memory limit runs, its
 * cgroup's usage is read once a second, and one event says when it crosses
 * 90% of the limit — early enough for a supervisor to act before the OOM
 * killer does. The next warning waits until usage has fallen below 80%, so
 * an agent hovering at the line does not flood the event queues. A timer
 * per agent (not a scan of the table) keeps an idle kernel without limited
 * agents at zero wake-ups.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "agent-internal.h"
#include "cgroup.h"
#include "events.h"
#include "kernel.h"
#include "log.h"
#include "macro.h"

#define MEMWATCH_PERIOD_MS 1000
#define MEMWATCH_HIGH_PCT  90
#define MEMWATCH_LOW_PCT   80

static int64_t memory_limit(struct agent *a)
{
	struct cgroup *cg = agent_cgroup_cg(a);

	return cg ? cgroup_enforced(cg)->memory : -1;
}

static void memwatch_check(struct agent *a, int64_t limit)
{
	struct cgroup_counters now;
	uint64_t high = (uint64_t)limit / 100 * MEMWATCH_HIGH_PCT;
	uint64_t low = (uint64_t)limit / 100 * MEMWATCH_LOW_PCT;

	if (cgroup_counters(agent_cgroup_cg(a), &now) < 0 || !now.memory_bytes)
		return;
	if (a->mem_warned) {
		a->mem_warned = now.memory_bytes >= low;
		return;
	}
	if (now.memory_bytes < high)
		return;
	a->mem_warned = true;
	log_warn("agent %u (%s): memory at %llu of %lld bytes", a->id, a->name,
		 (unsigned long long)now.memory_bytes, (long long)limit);
	events_emit(a->k, EVENT_RESOURCE_WARNING, a->id, 0,
		    json_pack("{s:I, s:s, s:s, s:I, s:I, s:i}", "agent_id",
			      (json_int_t)a->id, "name", a->name, "resource",
			      "memory", "usage_bytes",
			      (json_int_t)now.memory_bytes, "limit_bytes",
			      (json_int_t)limit, "percent",
			      (int)(now.memory_bytes * 100 / (uint64_t)limit)));
}

static void memwatch_fired(struct loop_timer *t, int res)
{
	struct agent *a = container_of(t, struct agent, mem_timer);
	int64_t limit;

	/* A cancelled timer whose agent already runs again (restarted
	 * before the cancellation came back) keeps watching it. */
	if (a->table->freed || !a->pid)
		goto out;
	limit = memory_limit(a);
	if (limit <= 0)
		goto out;
	if (a->state == AGENT_RUNNING)
		memwatch_check(a, limit);
	if (loop_timer_arm(a->k->loop, t, MEMWATCH_PERIOD_MS) == 0)
		return; /* keeps its reference */
out:
	agent_op_end(a);
}

void agent_memwatch_start(struct agent *a)
{
	a->mem_timer.fn = memwatch_fired;
	if (a->mem_timer.armed || memory_limit(a) <= 0)
		return;
	a->mem_warned = false;
	if (loop_timer_arm(a->k->loop, &a->mem_timer, MEMWATCH_PERIOD_MS) == 0)
		agent_op_begin(a);
}

void agent_memwatch_stop(struct agent *a)
{
	if (a->mem_timer.armed)
		(void)loop_timer_cancel(a->k->loop, &a->mem_timer);
}
