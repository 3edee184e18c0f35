/* SPDX-License-Identifier: MIT */
/*
 * NOOP throughput over the shared-memory fast path, with libclove's
 * asynchronous calls: each client thread submits a batch of
 * SHM_TP_BATCH requests on each of its attached clients (clove_submit),
 * then completes them all (clove_complete), and repeats.
 *
 * - noop_throughput.shm.c.batch: one client, one thread.
 * - noop_throughput.shm.c.16agents: 16 attached connections split over two
 *   client threads (the machine has two cores, and the kernel needs one).
 *
 * As in micro-throughput.c, the main thread samples a shared counter every
 * BENCH_TP_INTERVAL_MS and the figures are percentiles of those interval
 * rates.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "clove.h"
#include "macro.h"

#define SHM_TP_BATCH	 64u
#define SHM_TP_AGENTS	 16u
#define SHM_TP_THREADS	 2u
#define SHM_TP_WARMUP_MS 200u

static const char tp_payload[BENCH_PAYLOAD + 1] = "clove-bench-shmt";

struct stp_shared {
	atomic_bool stop;
	atomic_uint_fast64_t calls;
};

struct stp_worker {
	pthread_t thread;
	bool started;
	struct stp_shared *sh;
	struct clove_client **clients;
	unsigned n;
	int r;
};

static int complete_batch(struct clove_client *c)
{
	struct clove_completion out[SHM_TP_BATCH];
	unsigned got = 0;

	while (got < SHM_TP_BATCH) {
		int n = clove_complete(c, out, SHM_TP_BATCH - got, -1);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPROTO;
		for (int i = 0; i < n; i++) {
			bool ok = out[i].error == 0 &&
				  out[i].len == BENCH_PAYLOAD;
			clove_free(out[i].reply);
			if (!ok)
				return -EBADMSG;
		}
		got += (unsigned)n;
	}
	return 0;
}

static int batch_round(struct stp_worker *w)
{
	for (unsigned i = 0; i < w->n; i++)
		for (unsigned k = 0; k < SHM_TP_BATCH; k++) {
			uint64_t id;
			int r = clove_submit(w->clients[i], CLOVE_OP_NOOP,
					     tp_payload, BENCH_PAYLOAD, &id);
			if (r < 0)
				return r;
		}
	for (unsigned i = 0; i < w->n; i++) {
		int r = complete_batch(w->clients[i]);
		if (r < 0)
			return r;
		atomic_fetch_add_explicit(&w->sh->calls, SHM_TP_BATCH,
					  memory_order_relaxed);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct stp_worker *w = arg;
	while (!atomic_load_explicit(&w->sh->stop, memory_order_relaxed)) {
		w->r = batch_round(w);
		if (w->r < 0)
			break;
	}
	return NULL;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Interval rates over secs into r (p50, p99, n and extra). */
static int sample(struct stp_shared *sh, double secs, struct bench_result *r)
{
	const uint64_t step = (uint64_t)BENCH_TP_INTERVAL_MS * 1000000u;
	size_t cap = (size_t)(secs * 1e9 / (double)step) + 2, n = 0;
	_cleanup_free_ double *rates = calloc(cap, sizeof(double));
	if (!rates)
		return -ENOMEM;
	uint64_t start = stats_now_ns(), prev_t = start;
	uint64_t first = atomic_load(&sh->calls), prev_c = first;
	while (n < cap && (double)(prev_t - start) < secs * 1e9 - step / 2) {
		sleep_ns(step);
		uint64_t t = stats_now_ns(), c = atomic_load(&sh->calls);
		rates[n++] = (double)(c - prev_c) * 1e9 / (double)(t - prev_t);
		prev_t = t;
		prev_c = c;
	}
	stats_sort_doubles(rates, n);
	r->p50 = stats_percentile(rates, n, 50);
	r->p99 = stats_percentile(rates, n, 99);
	r->n = prev_c - first;
	r->extra = json_pack("{s:f, s:f, s:i, s:f}", "overall",
			     (double)(prev_c - first) * 1e9 /
				     (double)(prev_t - start),
			     "p1", stats_percentile(rates, n, 1), "intervals",
			     (int)n, "seconds", (double)(prev_t - start) / 1e9);
	return 0;
}

static int drive(struct clove_client **clients, unsigned nclients,
		 unsigned nthreads, double secs, struct bench_result *r)
{
	struct stp_worker w[SHM_TP_THREADS] = { 0 };
	struct stp_shared sh = { 0 };
	unsigned per = nclients / nthreads;
	int ret = 0;

	for (unsigned i = 0; ret >= 0 && i < nthreads; i++) {
		w[i] = (struct stp_worker){ .sh = &sh,
					    .clients = clients + i * per,
					    .n = per };
		int e = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
		if (e != 0)
			ret = bench_fail(r, -e, "pthread_create: %s",
					 strerror(e));
		w[i].started = e == 0;
	}
	if (ret >= 0) {
		sleep_ns((uint64_t)SHM_TP_WARMUP_MS * 1000000u);
		ret = sample(&sh, secs, r);
	}
	atomic_store(&sh.stop, true);
	for (unsigned i = 0; i < nthreads; i++) {
		if (!w[i].started)
			continue;
		pthread_join(w[i].thread, NULL);
		if (w[i].r < 0 && ret >= 0)
			ret = bench_fail(r, w[i].r, "client thread %u: %s", i,
					 clove_strerror(w[i].r));
	}
	return ret;
}

static int run(const struct bench_opts *o, const char *socket,
	       unsigned nclients, unsigned nthreads, struct bench_result *r)
{
	struct clove_client *clients[SHM_TP_AGENTS] = { 0 };
	int ret = 0;

	for (unsigned i = 0; ret >= 0 && i < nclients; i++)
		ret = micro_shm_attach(socket, &clients[i], r);
	if (ret >= 0)
		ret = drive(clients, nclients, nthreads, o->seconds, r);
	for (unsigned i = 0; i < nclients; i++)
		clove_close(clients[i]);
	return ret;
}

int micro_shm_tput_run(const struct bench_opts *o, const char *kernel_socket,
		       struct bench_result *batch, struct bench_result *agents)
{
	int r1 = run(o, kernel_socket, 1, 1, batch);
	if (r1 >= 0) {
		snprintf(batch->target, sizeof(batch->target),
			 ">= 1000000 calls/s");
		json_object_set_new(batch->extra, "target_met",
				    json_boolean(batch->p50 >= 1e6));
		json_object_set_new(batch->extra, "batch",
				    json_integer(SHM_TP_BATCH));
		snprintf(
			batch->note, sizeof(batch->note),
			"one attached client, one thread: clove_submit %u "
			"NOOPs (%u bytes), then clove_complete them, repeated; "
			"p50/p99 are percentiles of %u-ms interval rates",
			SHM_TP_BATCH, BENCH_PAYLOAD, BENCH_TP_INTERVAL_MS);
	}
	int r2 = run(o, kernel_socket, SHM_TP_AGENTS, SHM_TP_THREADS, agents);
	if (r2 >= 0) {
		json_object_set_new(agents->extra, "batch",
				    json_integer(SHM_TP_BATCH));
		snprintf(agents->note, sizeof(agents->note),
			 "%u attached connections (one per simulated agent) "
			 "over %u client threads, each submitting %u NOOPs per "
			 "connection, then completing them; baseline: "
			 "noop_throughput.uds.c.64conn",
			 SHM_TP_AGENTS, SHM_TP_THREADS, SHM_TP_BATCH);
	}
	return r1 < 0 ? r1 : r2;
}
