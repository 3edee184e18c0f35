/* SPDX-License-Identifier: MIT */
/*
 * Per-caller flows and what is shown of them: usage per agent (LIST), the
 * kernel-wide figures (HELLO's kernel.llm), LLM_REPORT, and the workers'
 * environment. An agent's flow outlives its calls (its usage counts
 * towards its quotas across restarts) and goes with its record; an
 * operator connection's goes with the connection (llm_forget, once idle).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "kernel.h"
#include "llm-internal.h"
#include "macro.h"

uint64_t llm_usage_tokens(const struct llm_usage *u)
{
	return u->prompt_tokens + u->completion_tokens + u->reported_tokens;
}

double llm_cost(const struct llm *l, uint64_t tokens)
{
	return (double)tokens / 1000.0 * l->k->cfg.llm_price_per_1k;
}

static struct llm_caller_flow *flow_of(struct llm_flow *f)
{
	return container_of(f, struct llm_caller_flow, flow);
}

static struct llm_caller_flow *flow_find(struct llm *l, uint32_t id)
{
	struct llm_flow *f = llm_sched_find_flow(&l->sched, id);
	return f ? flow_of(f) : NULL;
}

struct llm_caller_flow *llm_flow_get(struct llm *l, const struct caller *c)
{
	struct llm_caller_flow *f = flow_find(l, c->id);
	unsigned weight = 1, priority = 0;

	if (f) {
		f->refs++;
		return f;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	if (c->role == ROLE_AGENT && c->agent) {
		const struct llm_agent_params *p = agent_llm_params(c->agent);
		weight = p->weight;
		priority = p->priority;
	}
	llm_sched_add_flow(&l->sched, &f->flow, c->id, weight, priority);
	f->agent = c->role == ROLE_AGENT && c->agent;
	f->refs = 1;
	return f;
}

static void flow_maybe_free(struct llm *l, struct llm_caller_flow *f)
{
	if (f->refs || !f->forgotten)
		return;
	llm_sched_remove_flow(&l->sched, &f->flow);
	free(f);
}

void llm_flow_put(struct llm *l, struct llm_caller_flow *f)
{
	if (!f)
		return;
	f->refs--;
	flow_maybe_free(l, f);
}

void llm_flows_free(struct llm *l)
{
	struct llm_flow *f = l->sched.flows, *next;

	for (; f; f = next) {
		next = f->next;
		free(flow_of(f));
	}
	l->sched.flows = NULL;
}

void llm_forget(struct kernel *k, uint32_t id)
{
	struct llm_caller_flow *f;

	if (!k->llm || !(f = flow_find(k->llm, id)))
		return;
	f->forgotten = true;
	flow_maybe_free(k->llm, f);
}

uint64_t llm_report(struct kernel *k, const struct caller *c, uint64_t tokens)
{
	struct llm *l = k->llm;
	struct llm_caller_flow *f;
	uint64_t total;

	if (!l)
		return 0;
	l->usage.reported_tokens += tokens;
	f = llm_flow_get(l, c);
	if (!f)
		return 0;
	f->flow.usage.reported_tokens += tokens;
	total = llm_usage_tokens(&f->flow.usage);
	llm_flow_put(l, f);
	return total;
}

static json_t *usage_json(const struct llm *l, const struct llm_usage *u)
{
	uint64_t total = llm_usage_tokens(u);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "calls",
			 (json_int_t)u->calls, "errors", (json_int_t)u->errors,
			 "prompt_tokens", (json_int_t)u->prompt_tokens,
			 "completion_tokens",
			 (json_int_t)u->completion_tokens, "reported_tokens",
			 (json_int_t)u->reported_tokens, "total_tokens",
			 (json_int_t)total, "cost_usd", llm_cost(l, total));
}

json_t *llm_usage_json(struct kernel *k, uint32_t id)
{
	struct llm_caller_flow *f;

	if (!k->llm || !(f = flow_find(k->llm, id)))
		return NULL;
	json_t *o = usage_json(k->llm, &f->flow.usage);
	if (o)
		json_object_update_new(
			o, json_pack("{s:i, s:i, s:i, s:i}", "queued",
				     (int)f->flow.queued, "in_flight",
				     (int)f->flow.running, "weight",
				     (int)f->flow.weight, "priority",
				     (int)f->flow.priority));
	return o;
}

json_t *llm_agent_json(struct kernel *k, uint32_t id,
			const struct llm_agent_params *p)
{
	json_t *o = llm_usage_json(k, id);
	struct llm_usage none = { 0 };

	if (o || !k->llm)
		return o;
	o = usage_json(k->llm, &none);
	if (o)
		json_object_update_new(
			o, json_pack("{s:i, s:i, s:i, s:i}", "queued", 0,
				     "in_flight", 0, "weight",
				     (int)(p->weight ? p->weight : 1),
				     "priority", (int)p->priority));
	return o;
}

json_t *llm_status_json(struct kernel *k)
{
	struct llm *l = k->llm;
	unsigned queued = 0;

	if (!l)
		return json_null();
	for (struct llm_flow *f = l->sched.flows; f; f = f->next)
		queued += f->queued;
	json_t *o = usage_json(l, &l->usage);
	if (o)
		json_object_update_new(
			o, json_pack("{s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:o}",
				     "provider", l->provider, "model", l->model,
				     "queued", (int)queued, "in_flight",
				     (int)l->sched.running, "concurrency",
				     (int)l->sched.concurrency, "rpm",
				     (json_int_t)l->sched.requests.per_minute,
				     "tpm",
				     (json_int_t)l->sched.tokens.per_minute,
				     "workers", llm_pool_json(l->pool)));
	return o;
}

/* The variables a worker may see (docs/llm.md); the kernel's secrets and
 * the rest of its environment stay behind. */
static const char *const passed_env[] = {
	"PATH",		   "LANG",	      "HOME",
	"PYTHONPATH",	   "GEMINI_API_KEY",  "GOOGLE_API_KEY",
	"CLOVE_GEMINI_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
};

static char *env_entry(const char *name, const char *value)
{
	char *s;
	return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

int llm_env_build(struct kernel *k, char ***ret)
{
	size_t n = 0, max = ELEMENTSOF(passed_env) + 3;
	char **v = calloc(max + 1, sizeof(char *));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(passed_env); i++) {
		const char *val = getenv(passed_env[i]);
		if (!val && strcmp(passed_env[i], "PATH") == 0)
			val = "/usr/local/bin:/usr/bin:/bin";
		if (!val && strcmp(passed_env[i], "LANG") == 0)
			val = "C.UTF-8";
		if (val && !(v[n++] = env_entry(passed_env[i], val)))
			goto oom;
	}
	if (!(v[n++] = env_entry("CLOVE_LLM_PROVIDER", k->cfg.llm_provider)) ||
	    !(v[n++] = env_entry("CLOVE_LLM_MODEL", k->cfg.llm_model)))
		goto oom;
	*ret = v;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}
