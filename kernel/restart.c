/* SPDX-License-Identifier: MIT */
/*
 * Restart backoff and restart budget (see restart.h). The budget keeps only
 * as many timestamps as restarts it allows: if the oldest of the last
 * max_restarts restarts is still inside the window, one more would make
 * max_restarts + 1 within it, which is what "more than max_restarts" means.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "restart.h"

uint64_t restart_delay_ms(unsigned backoff_ms, unsigned n)
{
	uint64_t d = backoff_ms;

	if (n == 0)
		n = 1;
	/* Doubling past the cap is pointless, and stopping early keeps the
	 * shift from overflowing for large n. */
	for (unsigned i = 1; i < n && d < RESTART_MAX_DELAY_MS; i++)
		d *= 2;
	return d < RESTART_MAX_DELAY_MS ? d : RESTART_MAX_DELAY_MS;
}

int restart_budget_init(struct restart_budget *b, unsigned max_restarts,
			uint64_t window_ms)
{
	memset(b, 0, sizeof(*b));
	b->window_ms = window_ms;
	b->cap = max_restarts;
	if (max_restarts == 0)
		return 0;
	b->stamps = calloc(max_restarts, sizeof(*b->stamps));
	if (!b->stamps) {
		b->cap = 0;
		return -ENOMEM;
	}
	return 0;
}

void restart_budget_done(struct restart_budget *b)
{
	if (!b)
		return;
	free(b->stamps);
	b->stamps = NULL;
	b->cap = b->head = b->len = 0;
}

static uint64_t stamp_at(const struct restart_budget *b, unsigned i)
{
	return b->stamps[(b->head + i) % b->cap];
}

static bool in_window(const struct restart_budget *b, uint64_t stamp,
		      uint64_t now_ms)
{
	/* A stamp from the "future" (clock misuse) counts as recent: that
	 * errs on the side of stopping a crash loop. */
	return stamp > now_ms || now_ms - stamp < b->window_ms;
}

unsigned restart_budget_recent(const struct restart_budget *b, uint64_t now_ms)
{
	unsigned n = 0;

	/* Stamps are in time order, so the recent ones form a suffix. */
	for (unsigned i = b->len; i > 0; i--) {
		if (!in_window(b, stamp_at(b, i - 1), now_ms))
			break;
		n++;
	}
	return n;
}

bool restart_budget_allows(const struct restart_budget *b, uint64_t now_ms)
{
	if (b->cap == 0)
		return false;
	if (b->len < b->cap)
		return true;
	return !in_window(b, stamp_at(b, 0), now_ms);
}

void restart_budget_record(struct restart_budget *b, uint64_t now_ms)
{
	if (b->cap == 0)
		return;
	if (b->len < b->cap) {
		b->stamps[(b->head + b->len) % b->cap] = now_ms;
		b->len++;
		return;
	}
	b->stamps[b->head] = now_ms;
	b->head = (b->head + 1) % b->cap;
}
