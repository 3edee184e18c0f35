/* SPDX-License-Identifier: MIT */
/*
 * NOOP throughput with many clients: BENCH_TP_CONNS connections split over
 * BENCH_TP_THREADS client threads (two, as the machine has two cores, and
 * the server needs one of them). Each thread pipelines: it sends a window
 * of BENCH_TP_WINDOW requests on every one of its connections (one write
 * each, as libclove does), then reads all their replies, and repeats, so the
 * server always has work queued on many connections at once. The same load
 * runs against the plain echo server (the baseline: raw frames, write/read)
 * and against cloved through libclove, in alternating half-second segments
 * so that load from the neighbours on this shared machine hits both.
 *
 * The main thread only samples a shared counter every BENCH_TP_INTERVAL_MS;
 * the figures are percentiles of those per-interval rates, which shows a
 * noisy neighbour as a spread instead of hiding it in a mean.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "clove.h"
#include "macro.h"
#include "proto.h"

/* Each segment starts fresh threads; the first replies are not counted. */
#define TP_WARMUP_MS 100u
#define TP_SEGMENT_S 0.5
#define TP_FRAME     (PROTO_HEADER_SIZE + BENCH_PAYLOAD)

static const char tp_payload[BENCH_PAYLOAD + 1] = "clove-bench-tput";

struct tp_shared {
	atomic_bool stop;
	atomic_uint_fast64_t calls;
};

/* One client connection: a libclove client, or a raw fd to the echo. */
struct tp_conn {
	struct clove_client *c;
	int fd;
};

struct tp_worker {
	pthread_t thread;
	bool started;
	struct tp_shared *sh;
	struct tp_conn *conns;
	unsigned nconns;
	int r;
};

static int raw_send(int fd)
{
	uint8_t frame[TP_FRAME];
	proto_encode_header(frame, 0, OP_NOOP, BENCH_PAYLOAD);
	memcpy(frame + PROTO_HEADER_SIZE, tp_payload, BENCH_PAYLOAD);
	ssize_t n = write(fd, frame, sizeof(frame));
	if (n < 0)
		return negative_errno();
	return n == (ssize_t)sizeof(frame) ? 0 : -EIO;
}

static int raw_recv_window(int fd)
{
	uint8_t buf[TP_FRAME * BENCH_TP_WINDOW];
	for (size_t got = 0; got < sizeof(buf);) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			return n < 0 ? negative_errno() : -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

static int clove_recv_window(struct clove_client *c)
{
	for (unsigned k = 0; k < BENCH_TP_WINDOW; k++) {
		void *reply = NULL;
		size_t len = 0;
		int r = clove_recv_reply(c, NULL, &reply, &len);
		clove_free(reply);
		if (r < 0)
			return r;
		if (len != BENCH_PAYLOAD)
			return -EBADMSG;
	}
	return 0;
}

static int window_round(struct tp_worker *w)
{
	for (unsigned i = 0; i < w->nconns; i++) {
		struct tp_conn *tc = &w->conns[i];
		for (unsigned k = 0; k < BENCH_TP_WINDOW; k++) {
			int r;
			if (tc->c)
				r = clove_send_request(tc->c, CLOVE_OP_NOOP,
						       tp_payload,
						       BENCH_PAYLOAD);
			else
				r = raw_send(tc->fd);
			if (r < 0)
				return r;
		}
	}
	for (unsigned i = 0; i < w->nconns; i++) {
		struct tp_conn *tc = &w->conns[i];
		int r = tc->c ? clove_recv_window(tc->c)
			      : raw_recv_window(tc->fd);
		if (r < 0)
			return r;
		atomic_fetch_add_explicit(&w->sh->calls, BENCH_TP_WINDOW,
					  memory_order_relaxed);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct tp_worker *w = arg;

	while (!atomic_load_explicit(&w->sh->stop, memory_order_relaxed)) {
		w->r = window_round(w);
		if (w->r < 0)
			break;
	}
	return NULL;
}

static void sleep_until_ns(uint64_t deadline)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000u),
			       .tv_nsec = (long)(deadline % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* One side of the comparison: its connections and what was measured on
 * them so far, over all segments. */
struct tp_side {
	const char *socket;
	bool raw;
	struct tp_conn conns[BENCH_TP_CONNS];
	double *rates;
	size_t nrates, cap;
	uint64_t calls;
	double secs;
	struct bench_result *r;
};

/* Samples the counter every interval for secs seconds, appending one
 * calls/s figure per interval to side->rates. */
static void sample(double secs, struct tp_shared *sh, struct tp_side *side)
{
	const uint64_t step = (uint64_t)BENCH_TP_INTERVAL_MS * 1000000u;
	uint64_t start = stats_now_ns(), prev_t = start;
	uint64_t first = atomic_load(&sh->calls), prev_c = first;

	for (size_t n = 1; side->nrates < side->cap; n++) {
		sleep_until_ns(start + n * step);
		uint64_t t = stats_now_ns();
		uint64_t c = atomic_load(&sh->calls);
		side->rates[side->nrates++] =
			(double)(c - prev_c) * 1e9 / (double)(t - prev_t);
		prev_t = t;
		prev_c = c;
		if ((double)(t - start) >= secs * 1e9 - step / 2)
			break;
	}
	side->calls += prev_c - first;
	side->secs += (double)(prev_t - start) / 1e9;
}

static int connect_all(struct tp_side *side)
{
	for (unsigned i = 0; i < BENCH_TP_CONNS; i++) {
		struct tp_conn *tc = &side->conns[i];
		int e;
		if (side->raw) {
			e = echo_server_connect(side->socket);
			tc->fd = e;
		} else {
			e = clove_connect(side->socket, &tc->c);
		}
		if (e < 0)
			return bench_fail(side->r, e,
					  "connection %u of %u to %s: %s",
					  i + 1, BENCH_TP_CONNS, side->socket,
					  clove_strerror(e));
	}
	return 0;
}

static void fill_result(struct tp_side *side, unsigned segments)
{
	struct bench_result *r = side->r;
	size_t n = side->nrates;

	stats_sort_doubles(side->rates, n);
	r->p50 = stats_percentile(side->rates, n, 50);
	r->p99 = stats_percentile(side->rates, n, 99);
	r->n = side->calls;
	r->extra = json_pack("{s:f, s:f, s:i, s:f, s:i, s:i, s:i, s:i, s:i}",
			     "overall", (double)side->calls / side->secs, "p1",
			     stats_percentile(side->rates, n, 1), "intervals",
			     (int)n, "seconds", side->secs, "segments",
			     (int)segments, "connections", BENCH_TP_CONNS,
			     "client_threads", BENCH_TP_THREADS, "window",
			     BENCH_TP_WINDOW, "payload_bytes", BENCH_PAYLOAD);
	snprintf(
		r->note, sizeof(r->note),
		"p50/p99 are percentiles of %u-ms interval rates (p99 = the "
		"fastest 1%% of intervals, p1 the slowest); overall = n / seconds; "
		"each thread sends %u requests per connection, then reads the "
		"replies; segments alternate with the baseline",
		BENCH_TP_INTERVAL_MS, BENCH_TP_WINDOW);
}

/* Runs the workers on side's connections for one segment of secs. */
static int drive(double secs, struct tp_side *side)
{
	struct tp_worker w[BENCH_TP_THREADS] = { 0 };
	struct tp_shared sh = { 0 };
	unsigned per = BENCH_TP_CONNS / BENCH_TP_THREADS;
	int ret = 0;

	for (unsigned i = 0; ret >= 0 && i < BENCH_TP_THREADS; i++) {
		w[i] = (struct tp_worker){ .sh = &sh,
					   .conns = side->conns + i * per,
					   .nconns = per };
		int e = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
		if (e != 0)
			ret = bench_fail(side->r, -e, "pthread_create: %s",
					 strerror(e));
		w[i].started = e == 0;
	}
	if (ret >= 0) {
		sleep_until_ns(stats_now_ns() + TP_WARMUP_MS * 1000000ull);
		sample(secs, &sh, side);
	}
	atomic_store(&sh.stop, true);
	for (unsigned i = 0; i < BENCH_TP_THREADS; i++) {
		if (!w[i].started)
			continue;
		pthread_join(w[i].thread, NULL);
		if (w[i].r < 0 && ret >= 0)
			ret = bench_fail(side->r, w[i].r,
					 "client thread %u: %s", i,
					 clove_strerror(w[i].r));
	}
	return ret;
}

static int side_init(struct tp_side *side, const char *socket, bool raw,
		     size_t cap, struct bench_result *r)
{
	*side = (struct tp_side){
		.socket = socket, .raw = raw, .cap = cap, .r = r
	};
	for (unsigned i = 0; i < BENCH_TP_CONNS; i++)
		side->conns[i] = (struct tp_conn){ .fd = -EBADF };
	side->rates = calloc(cap, sizeof(double));
	if (!side->rates)
		return bench_fail(r, -ENOMEM, "out of memory");
	return connect_all(side);
}

static void side_done(struct tp_side *side)
{
	for (unsigned i = 0; i < BENCH_TP_CONNS; i++) {
		clove_close(side->conns[i].c);
		closep(&side->conns[i].fd);
	}
	free(side->rates);
}

int micro_throughput_run(const struct bench_opts *o, const char *echo_socket,
			 const char *kernel_socket,
			 struct bench_result *baseline, struct bench_result *r)
{
	struct tp_side sides[2];
	unsigned segments =
		MAX(1u, (unsigned)(o->seconds / TP_SEGMENT_S + 0.5));
	double secs = o->seconds / segments;
	size_t cap = (size_t)(o->seconds * 1000 / BENCH_TP_INTERVAL_MS) +
		     2 * segments;

	int ret = side_init(&sides[0], echo_socket, true, cap, baseline);
	int ret2 = side_init(&sides[1], kernel_socket, false, cap, r);
	/* Short alternating segments: load from the neighbours hits both. */
	for (unsigned i = 0; (ret >= 0 || ret2 >= 0) && i < segments; i++) {
		if (ret >= 0)
			ret = drive(secs, &sides[0]);
		if (ret2 >= 0)
			ret2 = drive(secs, &sides[1]);
	}
	if (ret >= 0) {
		fill_result(&sides[0], segments);
		snprintf(
			baseline->note, sizeof(baseline->note),
			"the io_uring echo server under the same load as "
			"noop_throughput.uds.c.64conn (raw %u-byte frames, one "
			"write each, windows read back with read()), in "
			"alternating segments",
			TP_FRAME);
	}
	if (ret2 >= 0)
		fill_result(&sides[1], segments);
	side_done(&sides[0]);
	side_done(&sides[1]);
	return ret < 0 ? ret : ret2;
}
