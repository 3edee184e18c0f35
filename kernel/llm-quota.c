/* SPDX-License-Identifier: MIT */
/*
 * LLM quotas (llm-quota.h). A call's tokens are known only once it ends, so
 * the token and cost limits refuse calls once the total has reached them:
 * the call that crosses a limit completes, the next one is refused.
 */
#include "llm-quota.h"

#include <errno.h>
#include <stdio.h>

#include "perm-policy.h"

int llm_quota_check(const struct perm_policy *p, uint64_t calls,
		    uint64_t tokens, double price_per_1k, char *why,
		    size_t len)
{
	double cost = (double)tokens / 1000.0 * price_per_1k;

	if (p->max_calls != PERM_UNLIMITED && calls >= (uint64_t)p->max_calls) {
		snprintf(why, len,
			 "LLM call quota reached: %llu of %lld calls "
			 "(permissions.llm.max_calls)",
			 (unsigned long long)calls, (long long)p->max_calls);
		return -EDQUOT;
	}
	if (p->max_tokens != PERM_UNLIMITED &&
	    tokens >= (uint64_t)p->max_tokens) {
		snprintf(why, len,
			 "LLM token quota reached: %llu of %lld tokens "
			 "(permissions.llm.max_tokens)",
			 (unsigned long long)tokens, (long long)p->max_tokens);
		return -EDQUOT;
	}
	if (p->max_cost_usd >= 0 && price_per_1k > 0 &&
	    cost >= p->max_cost_usd) {
		snprintf(why, len,
			 "LLM cost quota reached: $%.4f of $%.4f "
			 "(permissions.llm.max_cost_usd at $%g per 1000 "
			 "tokens)",
			 cost, p->max_cost_usd, price_per_1k);
		return -EDQUOT;
	}
	return 0;
}
