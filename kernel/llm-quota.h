/* SPDX-License-Identifier: MIT */
/*
 * Per-caller LLM quotas from the permission policy (llm.max_calls,
 * llm.max_tokens, llm.max_cost_usd), checked before a call is queued and
 * again before it is dispatched. Pure; unit-tested.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct perm_policy;

/*
 * calls: the caller's calls so far, those queued and running included, not
 * counting the one being checked; tokens: its tokens so far (reported
 * ones included); price_per_1k: USD per 1000 tokens (0: calls cost
 * nothing, so a cost limit never bites). Returns 0, or -EDQUOT with the
 * limit that was reached in why.
 */
int llm_quota_check(const struct perm_policy *p, uint64_t calls,
		    uint64_t tokens, double price_per_1k, char *why,
		    size_t len);
