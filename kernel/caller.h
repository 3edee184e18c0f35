/* SPDX-License-Identifier: MIT */
/*
 * Who is calling: an operator (connected to the socket path, identified by
 * SO_PEERCRED) or an agent (its inherited socket is its identity).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

struct agent;

enum caller_role { ROLE_OPERATOR, ROLE_AGENT };

struct caller {
	enum caller_role role;
	/* The id replies carry; for agents, the agent id. */
	uint32_t id;
	/* Agents only; cleared when the agent's record goes away. */
	struct agent *agent;
	pid_t pid;
	uid_t uid;
	gid_t gid;
};
