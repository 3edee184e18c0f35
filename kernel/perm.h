/* SPDX-License-Identifier: MIT */
/*
 * The one permission check every syscall passes before its handler. Today:
 * operators may do everything; agents may act on themselves and their own
 * descendants. The permission system (levels, policies) plugs in here.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct caller;
struct kernel;
struct agent;

/* 0, or -EACCES with a reason in why. */
int perm_check(struct kernel *k, const struct caller *c, uint8_t opcode,
	       json_t *args, char *why, size_t whylen);

/* 0 if c may KILL/PAUSE/RESUME target, else -EACCES. */
int perm_check_agent_target(struct kernel *k, const struct caller *c,
			    const struct agent *target);
