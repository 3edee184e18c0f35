/* SPDX-License-Identifier: MIT */
/*
 * How agents are described on the wire: state and restart-policy names,
 * and LIST's object per agent (the fields of docs/protocol.md, LIST).
 */
#include <jansson.h>

#include "agent-internal.h"
#include "llm.h"
#include "loop.h"

const char *agent_state_name(enum agent_state s)
{
	switch (s) {
	case AGENT_RUNNING:
		return "running";
	case AGENT_PAUSED:
		return "paused";
	case AGENT_RESTARTING:
		return "restarting";
	case AGENT_EXITED:
		return "exited";
	case AGENT_FAILED:
		return "failed";
	case AGENT_KILLED:
		return "killed";
	}
	return "unknown";
}

const char *agent_restart_policy_name(enum agent_restart_policy p)
{
	switch (p) {
	case AGENT_RESTART_NEVER:
		return "never";
	case AGENT_RESTART_ALWAYS:
		return "always";
	case AGENT_RESTART_ON_FAILURE:
		return "on-failure";
	}
	return "unknown";
}

/* How long the current process has run, or the last one ran. */
static json_int_t agent_uptime_ms(const struct agent *a)
{
	if (!a->started_ms)
		return 0;
	if (a->pid > 0)
		return (json_int_t)(loop_now_ms() - a->started_ms);
	if (a->ended_ms >= a->started_ms)
		return (json_int_t)(a->ended_ms - a->started_ms);
	return 0;
}

json_t *agent_to_json(const struct agent *a)
{
	bool exited = a->exit_code >= 0 && a->signal == 0;

	/* One key and its value per line. */
	/* clang-format off */
	return json_pack(
		"{s:I, s:s, s:I, s:s, s:b, s:o, s:o, s:o, s:I, s:f, s:I, s:s, s:s, "
		"s:I, s:o?, s:o?}",
		"id", (json_int_t)a->id,
		"name", a->name,
		"pid", (json_int_t)(a->pid > 0 ? a->pid : 0),
		"state", agent_state_name(a->state),
		"running", a->pid > 0,
		"exit_code",
		exited ? json_integer(a->exit_code) : json_null(),
		"signal", a->signal ? json_integer(a->signal) : json_null(),
		"exit_reason",
		a->exit_reason ? json_string(a->exit_reason) : json_null(),
		"restarts", (json_int_t)a->restarts,
		"started_at", a->started_at,
		"parent_id", (json_int_t)a->parent_id,
		"restart_policy",
		agent_restart_policy_name(a->spec.restart_policy),
		"log_path", a->log_path ? a->log_path : "",
		"uptime_ms", agent_uptime_ms(a),
		"isolation", agent_isolation_json(a),
		"llm", llm_agent_json(a->k, a->id, &a->spec.llm));
	/* clang-format on */
}

json_t *agents_to_json(struct agents *t)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	for (struct agent *a = t->first; a; a = a->next) {
		if (json_array_append_new(arr, agent_to_json(a)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}
