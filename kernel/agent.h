/* SPDX-License-Identifier: MIT */
/*
 * Agents: the table of live and recently ended agents, their lifecycle
 * (spawn, supervise through the pidfd, restart with backoff, kill with a
 * grace period, pause, resume) and their JSON description for LIST.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct kernel;
struct agent;
struct agents;

enum agent_state {
	AGENT_RUNNING,
	AGENT_PAUSED,
	AGENT_RESTARTING,
	AGENT_EXITED,
	AGENT_FAILED,
	AGENT_KILLED,
};

int agents_new(struct kernel *k, struct agents **ret);
void agents_free(struct agents *t);

struct agent *agents_find_id(struct agents *t, uint32_t id);
/* Live agents only (names are unique among live agents). */
struct agent *agents_find_name(struct agents *t, const char *name);

uint32_t agent_id(const struct agent *a);
uint32_t agent_parent_id(const struct agent *a);
const char *agent_name(const struct agent *a);
enum agent_state agent_state(const struct agent *a);
bool agent_alive(const struct agent *a);
/* True if ancestor_id is a's parent, grandparent, ... */
bool agents_is_descendant(struct agents *t, const struct agent *a,
			  uint32_t ancestor_id);

unsigned agents_count_running(struct agents *t);
unsigned agents_count_total(struct agents *t);

/* Stops every agent (SIGTERM, SIGKILL after grace_ms); calls done(k) once
 * none is alive (at once if none is). */
void agents_stop_all(struct agents *t, unsigned grace_ms,
		     void (*done)(struct kernel *k));
