/* SPDX-License-Identifier: MIT */
/*
 * The arithmetic of agent restarts, kept apart from any I/O so it can be
 * unit-tested: the backoff before the n-th restart, and the restart budget
 * ("at most max restarts within a window"), kept as a ring of the times of
 * the most recent restarts. Times are monotonic milliseconds supplied by
 * the caller and must not go backwards.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* No backoff ever waits longer than this. */
#define RESTART_MAX_DELAY_MS 30000u

struct restart_budget {
	/* Times of the most recent restarts, oldest at head; cap entries. */
	uint64_t *stamps;
	unsigned cap;
	unsigned head;
	unsigned len;
	uint64_t window_ms;
};

/*
 * Delay before the n-th restart (n >= 1; 0 counts as 1):
 * backoff_ms * 2^(n-1), capped at RESTART_MAX_DELAY_MS.
 */
uint64_t restart_delay_ms(unsigned backoff_ms, unsigned n);

/* A budget of at most max_restarts restarts per window_ms. Returns 0 or
 * -ENOMEM. */
int restart_budget_init(struct restart_budget *b, unsigned max_restarts,
			uint64_t window_ms);
/* Accepts a zeroed or half-initialised budget. */
void restart_budget_done(struct restart_budget *b);

/* Restarts recorded in (now_ms - window, now_ms]. */
unsigned restart_budget_recent(const struct restart_budget *b, uint64_t now_ms);

/* True when one more restart at now_ms stays within the budget. */
bool restart_budget_allows(const struct restart_budget *b, uint64_t now_ms);

/* Records a restart at now_ms (the oldest record falls out when full). */
void restart_budget_record(struct restart_budget *b, uint64_t now_ms);
