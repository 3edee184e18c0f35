/* SPDX-License-Identifier: MIT */
/*
 * The LLM scheduler (start-time fair queuing on tokens, priority classes,
 * concurrency and token buckets), the quota check and the worker frames:
 * all pure, driven here with a clock of the test's own.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm-frame.h"
#include "llm-quota.h"
#include "llm-sched.h"
#include "perm-policy.h"

#define NJOBS 64

struct fixture {
	struct llm_sched s;
	struct llm_flow flows[8];
	struct llm_job jobs[NJOBS];
	unsigned njobs;
};

static struct llm_job *add_job(struct fixture *f, unsigned flow, uint64_t est)
{
	assert_true(f->njobs < NJOBS);
	struct llm_job *j = &f->jobs[f->njobs++];
	llm_sched_enqueue(&f->s, &f->flows[flow], j, est);
	return j;
}

static unsigned flow_index(struct fixture *f, const struct llm_job *j)
{
	return (unsigned)(j->flow - f->flows);
}

/* Dispatches and completes one job at a time (concurrency 1), charging its
 * estimate; returns which flow each came from. */
static void serve(struct fixture *f, unsigned n, unsigned *order)
{
	uint64_t wake;
	for (unsigned i = 0; i < n; i++) {
		struct llm_job *j = llm_sched_next(&f->s, 0, &wake);
		assert_non_null(j);
		order[i] = flow_index(f, j);
		llm_sched_done(&f->s, j, j->est, 0);
	}
}

static void setup_flows(struct fixture *f, unsigned n, unsigned concurrency)
{
	memset(f, 0, sizeof(*f));
	llm_sched_init(&f->s, concurrency, 0, 0, 0);
	for (unsigned i = 0; i < n; i++)
		llm_sched_add_flow(&f->s, &f->flows[i], i + 1, 1, 0);
}

/* A flow with many jobs does not hold back a flow that arrives later with
 * one: SFQ serves the newcomer at the current virtual time. */
static void sfq_interleaves(void **state)
{
	struct fixture f;
	unsigned order[6];

	setup_flows(&f, 2, 1);
	for (int i = 0; i < 5; i++)
		add_job(&f, 0, 100);
	serve(&f, 2, order);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 0);
	add_job(&f, 1, 100);
	serve(&f, 1, order);
	assert_int_equal(order[0], 1);
}

/* Equal flows alternate; a flow's jobs stay in their order. */
static void sfq_alternates_in_order(void **state)
{
	struct fixture f;
	unsigned order[6];
	uint64_t wake;

	setup_flows(&f, 2, 1);
	struct llm_job *a1 = add_job(&f, 0, 10), *a2 = add_job(&f, 0, 10);
	add_job(&f, 1, 10);
	add_job(&f, 1, 10);
	struct llm_job *j = llm_sched_next(&f.s, 0, &wake);
	assert_ptr_equal(j, a1);
	llm_sched_done(&f.s, j, 10, 0);
	serve(&f, 3, order);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 0);
	assert_int_equal(order[2], 1);
	assert_false(a2->queued);
}

/* Weight 2 gets twice the tokens of weight 1 while both are backlogged. */
static void weights_two_to_one(void **state)
{
	struct fixture f;
	unsigned order[30], served[2] = { 0, 0 };

	memset(&f, 0, sizeof(f));
	llm_sched_init(&f.s, 1, 0, 0, 0);
	llm_sched_add_flow(&f.s, &f.flows[0], 1, 2, 0);
	llm_sched_add_flow(&f.s, &f.flows[1], 2, 1, 0);
	for (int i = 0; i < 30; i++)
		add_job(&f, (unsigned)i % 2, 100);
	serve(&f, 30, order);
	/* Over the first 21 jobs (both flows backlogged), 2:1. */
	for (int i = 0; i < 21; i++)
		served[order[i]]++;
	assert_int_equal(served[0], 14);
	assert_int_equal(served[1], 7);
}

/* A higher priority class is served first, whatever the tags say. */
static void priority_is_strict(void **state)
{
	struct fixture f;
	unsigned order[4];

	memset(&f, 0, sizeof(f));
	llm_sched_init(&f.s, 1, 0, 0, 0);
	llm_sched_add_flow(&f.s, &f.flows[0], 1, 1, 0);
	llm_sched_add_flow(&f.s, &f.flows[1], 2, 1, 3);
	add_job(&f, 0, 10);
	add_job(&f, 0, 10);
	add_job(&f, 1, 1000);
	add_job(&f, 1, 1000);
	serve(&f, 4, order);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 0);
	assert_int_equal(order[3], 0);
}

/* An under-estimate is charged when the job completes: the flow that used
 * ten times its estimate waits while the other catches up. */
static void cost_correction(void **state)
{
	struct fixture f;
	unsigned order[6];
	uint64_t wake;

	setup_flows(&f, 2, 1);
	for (int i = 0; i < 4; i++) {
		add_job(&f, 0, 10);
		add_job(&f, 1, 10);
	}
	struct llm_job *j = llm_sched_next(&f.s, 0, &wake);
	assert_int_equal(flow_index(&f, j), 0);
	llm_sched_done(&f.s, j, 100, 0);
	/* Flow 0 owes 90 tokens: flow 1 gets its 4 jobs (40) first... */
	serve(&f, 5, order);
	for (int i = 0; i < 4; i++)
		assert_int_equal(order[i], 1);
	assert_int_equal(order[4], 0);
	/* ...and an over-estimate is refunded the same way. */
	assert_true(f.flows[0].finish > f.flows[1].finish);
}

static void concurrency_limit(void **state)
{
	struct fixture f;
	uint64_t wake;

	setup_flows(&f, 1, 2);
	for (int i = 0; i < 3; i++)
		add_job(&f, 0, 10);
	struct llm_job *a = llm_sched_next(&f.s, 0, &wake);
	struct llm_job *b = llm_sched_next(&f.s, 0, &wake);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(llm_sched_next(&f.s, 0, &wake));
	assert_int_equal(wake, UINT64_MAX);
	llm_sched_done(&f.s, a, 10, 0);
	assert_non_null(llm_sched_next(&f.s, 0, &wake));
}

/* 60 requests per minute: a burst of one (a second's worth), then one a
 * second; the scheduler says when to come back. */
static void request_bucket_refills(void **state)
{
	struct fixture f;
	uint64_t wake;

	memset(&f, 0, sizeof(f));
	llm_sched_init(&f.s, 10, 60, 0, 1000);
	llm_sched_add_flow(&f.s, &f.flows[0], 1, 1, 0);
	for (int i = 0; i < 3; i++)
		add_job(&f, 0, 10);
	assert_non_null(llm_sched_next(&f.s, 1000, &wake));
	assert_null(llm_sched_next(&f.s, 1000, &wake));
	assert_true(wake > 1000 && wake <= 2001);
	assert_null(llm_sched_next(&f.s, 1500, &wake));
	assert_non_null(llm_sched_next(&f.s, 2001, &wake));
	assert_null(llm_sched_next(&f.s, 2500, &wake));
	assert_non_null(llm_sched_next(&f.s, 3002, &wake));
}

/* A job refused at dispatch (its caller over quota) gives back the request
 * token and its tag: with one request a minute, the next flow's job may go
 * at once, and the refused flow is not ahead of it. */
static void refuse_refunds_the_request_token(void **state)
{
	struct fixture f;
	uint64_t wake;

	memset(&f, 0, sizeof(f));
	llm_sched_init(&f.s, 10, 1, 600, 1000);
	llm_sched_add_flow(&f.s, &f.flows[0], 1, 1, 0);
	llm_sched_add_flow(&f.s, &f.flows[1], 2, 1, 0);
	add_job(&f, 0, 10);
	struct llm_job *b = add_job(&f, 1, 10);
	struct llm_job *a = llm_sched_next(&f.s, 1000, &wake);
	assert_int_equal(flow_index(&f, a), 0);
	double tokens = f.s.tokens.level;
	llm_sched_refuse(&f.s, a);
	assert_false(a->queued || a->running);
	assert_int_equal(f.s.running, 0);
	assert_int_equal(f.flows[0].running, 0);
	assert_true(f.flows[0].finish == 0);
	assert_true(f.s.tokens.level > tokens);
	assert_ptr_equal(llm_sched_next(&f.s, 1000, &wake), b);
	/* The bucket is empty now. */
	add_job(&f, 0, 10);
	assert_null(llm_sched_next(&f.s, 1000, &wake));
}

/* 6000 tokens per minute = 100 a second. A 300-token job waits for a full
 * bucket, then puts it in debt; the real count corrects the debt. */
static void token_bucket_debt_and_correction(void **state)
{
	struct fixture f;
	uint64_t wake;

	memset(&f, 0, sizeof(f));
	llm_sched_init(&f.s, 10, 0, 6000, 0);
	llm_sched_add_flow(&f.s, &f.flows[0], 1, 1, 0);
	struct llm_job *a = add_job(&f, 0, 300);
	add_job(&f, 0, 50);
	assert_ptr_equal(llm_sched_next(&f.s, 0, &wake), a);
	/* 100 - 300 = -200: 50 more need 2.5 s. */
	assert_null(llm_sched_next(&f.s, 0, &wake));
	assert_true(wake >= 2500 && wake <= 2501);
	/* Half a second later the bucket holds -150: still too little... */
	assert_null(llm_sched_next(&f.s, 500, &wake));
	/* ...but the job used only 100 tokens: 200 come back, the next goes. */
	llm_sched_done(&f.s, a, 100, 500);
	assert_non_null(llm_sched_next(&f.s, 500, &wake));
}

/* A retry is refunded and waits for its backoff at the head of its flow;
 * the other flow goes meanwhile. */
static void requeue_waits_for_backoff(void **state)
{
	struct fixture f;
	uint64_t wake;

	setup_flows(&f, 2, 1);
	struct llm_job *a = add_job(&f, 0, 100);
	add_job(&f, 0, 100);
	struct llm_job *b = add_job(&f, 1, 100);
	assert_ptr_equal(llm_sched_next(&f.s, 0, &wake), a);
	double finish = f.flows[0].finish;
	llm_sched_requeue(&f.s, a, 500);
	assert_true(f.flows[0].finish < finish);
	assert_ptr_equal(f.flows[0].head, a);
	assert_ptr_equal(llm_sched_next(&f.s, 0, &wake), b);
	llm_sched_done(&f.s, b, 100, 0);
	assert_null(llm_sched_next(&f.s, 100, &wake));
	assert_int_equal(wake, 500);
	assert_ptr_equal(llm_sched_next(&f.s, 500, &wake), a);
}

static void unqueue_takes_a_job_out(void **state)
{
	struct fixture f;
	uint64_t wake;

	setup_flows(&f, 1, 1);
	struct llm_job *a = add_job(&f, 0, 1), *b = add_job(&f, 0, 1),
		       *c = add_job(&f, 0, 1);
	llm_sched_unqueue(&f.s, b);
	assert_int_equal(f.flows[0].queued, 2);
	assert_ptr_equal(llm_sched_next(&f.s, 0, &wake), a);
	llm_sched_done(&f.s, a, 1, 0);
	assert_ptr_equal(llm_sched_next(&f.s, 0, &wake), c);
	llm_sched_done(&f.s, c, 1, 0);
	assert_null(f.flows[0].head);
	assert_null(f.flows[0].tail);
	llm_sched_remove_flow(&f.s, &f.flows[0]);
	assert_null(llm_sched_find_flow(&f.s, 1));
}

static struct perm_policy *policy(const char *json)
{
	json_error_t jerr;
	json_t *v = json_loads(json, 0, &jerr);
	struct perm_policy *p = NULL;
	struct perm_why why;
	assert_non_null(v);
	assert_int_equal(perm_policy_from_json(v, &p, &why), 0);
	json_decref(v);
	return p;
}

static void quotas(void **state)
{
	char why[256];
	struct perm_policy *p = policy(
		"{\"can_think\": true, \"llm\": {\"max_calls\": 3, "
		"\"max_tokens\": 1000, \"max_cost_usd\": 0.5}}");

	assert_int_equal(llm_quota_check(p, 2, 999, 0, why, sizeof(why)), 0);
	assert_int_equal(llm_quota_check(p, 3, 0, 0, why, sizeof(why)),
			 -EDQUOT);
	assert_non_null(strstr(why, "max_calls"));
	assert_int_equal(llm_quota_check(p, 0, 1000, 0, why, sizeof(why)),
			 -EDQUOT);
	assert_non_null(strstr(why, "max_tokens"));
	/* $1 per 1000 tokens: 500 tokens reach $0.50. */
	assert_int_equal(llm_quota_check(p, 0, 499, 1.0, why, sizeof(why)), 0);
	assert_int_equal(llm_quota_check(p, 0, 500, 1.0, why, sizeof(why)),
			 -EDQUOT);
	assert_non_null(strstr(why, "max_cost_usd"));
	perm_policy_free(p);

	p = policy("{\"can_think\": true}");
	assert_int_equal(llm_quota_check(p, 1000000, 1000000000, 10.0, why,
					 sizeof(why)),
			 0);
	perm_policy_free(p);
}

static void frames(void **state)
{
	json_t *msg = json_pack("{s:s, s:I, s:{s:s}}", "type", "think", "id",
				(json_int_t)7, "request", "prompt", "hé");
	uint8_t *buf;
	size_t len, used;
	json_t *back = NULL;
	char why[128];

	assert_int_equal(llm_frame_encode(msg, &buf, &len), 0);
	/* Byte by byte: "need more" until the last one. */
	for (size_t i = 0; i < len; i++)
		assert_true(llm_frame_decode(buf, i, &back, &used, why,
					     sizeof(why)) > 0);
	assert_int_equal(llm_frame_decode(buf, len, &back, &used, why,
					  sizeof(why)),
			 0);
	assert_int_equal(used, len);
	assert_true(json_equal(msg, back));
	json_decref(back);

	/* Over the limit, and not a map. */
	uint8_t big[4] = { 0xff, 0xff, 0xff, 0x7f };
	assert_int_equal(llm_frame_decode(big, 4, &back, &used, why,
					  sizeof(why)),
			 -EMSGSIZE);
	uint8_t notmap[5] = { 1, 0, 0, 0, 0x01 };
	assert_int_equal(llm_frame_decode(notmap, 5, &back, &used, why,
					  sizeof(why)),
			 -EBADMSG);
	json_t *arr = json_array();
	uint8_t *none = NULL;
	assert_int_equal(llm_frame_encode(arr, &none, &len), -EINVAL);
	assert_null(none);
	json_decref(arr);
	json_decref(msg);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sfq_interleaves),
		cmocka_unit_test(sfq_alternates_in_order),
		cmocka_unit_test(weights_two_to_one),
		cmocka_unit_test(priority_is_strict),
		cmocka_unit_test(cost_correction),
		cmocka_unit_test(concurrency_limit),
		cmocka_unit_test(request_bucket_refills),
		cmocka_unit_test(refuse_refunds_the_request_token),
		cmocka_unit_test(token_bucket_debt_and_correction),
		cmocka_unit_test(requeue_waits_for_backoff),
		cmocka_unit_test(unqueue_takes_a_job_out),
		cmocka_unit_test(quotas),
		cmocka_unit_test(frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
