/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory fast path (docs/shm.md), measured next to its floor:
 *
 * - baseline.shm_busy_poll_rtt: two processes ping-pong one cache line of a
 *   shared mapping (each spins until the other has written), one round trip
 *   timed at a time. Nothing can cross between two processes faster.
 * - noop_rtt.shm.c: libclove clove_call(NOOP, 16 bytes) over the rings of
 *   one attached connection, timed the same way, in rounds alternating with
 *   the baseline (a fresh ping-pong child per round, so nothing spins while
 *   the kernel is measured).
 * - kernel_cpu_idle.100agents: cloved's CPU time over 5 s while 100
 *   attached clients sit idle, next to the same 5 s with none attached.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "clove.h"
#include "macro.h"

#define SHM_ROUNDS    10u
#define IDLE_CLIENTS  100u
#define IDLE_SECONDS  5.0
#define IDLE_SETTLE_S 1.0

static const char payload[BENCH_PAYLOAD + 1] = "clove-bench-shm!";

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* --- the floor: a cache line between two processes --- */

static void pingpong_child(volatile uint64_t *line, unsigned count)
{
	for (uint64_t i = 1; i <= count; i++) {
		while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != 2 * i - 1)
			relax();
		__atomic_store_n(line, 2 * i, __ATOMIC_RELEASE);
	}
	_exit(0);
}

/* count round trips through a fresh child; samples when out != NULL. */
static int pingpong_round(unsigned count, uint64_t *out)
{
	volatile uint64_t *line = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (line == MAP_FAILED)
		return negative_errno();
	pid_t pid = fork();
	if (pid < 0) {
		int r = negative_errno();
		munmap((void *)line, 4096);
		return r;
	}
	if (pid == 0)
		pingpong_child(line, count);
	for (uint64_t i = 1; i <= count; i++) {
		uint64_t t0 = stats_now_ns();
		__atomic_store_n(line, 2 * i - 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != 2 * i)
			relax();
		if (out)
			out[i - 1] = stats_now_ns() - t0;
	}
	int status;
	waitpid(pid, &status, 0);
	munmap((void *)line, 4096);
	return 0;
}

static int shm_round(struct clove_client *c, unsigned count, uint64_t *out)
{
	for (unsigned i = 0; i < count; i++) {
		void *reply = NULL;
		size_t len = 0;
		uint64_t t0 = stats_now_ns();
		int r = clove_call(c, CLOVE_OP_NOOP, payload, BENCH_PAYLOAD,
				   &reply, &len);
		uint64_t t1 = stats_now_ns();
		if (r >= 0 && (len != BENCH_PAYLOAD ||
			       memcmp(reply, payload, BENCH_PAYLOAD) != 0))
			r = -EBADMSG;
		clove_free(reply);
		if (r < 0)
			return r;
		if (out)
			out[i] = t1 - t0;
	}
	return 0;
}

int micro_shm_attach(const char *socket, struct clove_client **ret,
		     struct bench_result *r)
{
	struct clove_client *c = NULL;
	int e = clove_connect(socket, &c);
	if (e < 0)
		return bench_fail(r, e, "clove_connect %s: %s", socket,
				  clove_strerror(e));
	e = clove_shm_attach(c, NULL, NULL);
	if (e < 0) {
		clove_close(c);
		return bench_fail(r, e, "clove_shm_attach: %s",
				  clove_strerror(e));
	}
	*ret = c;
	return 0;
}

static void fill(struct bench_result *r, uint64_t *samples, size_t n)
{
	stats_summary_ns(samples, n, &r->p50, &r->p99);
	r->n = n;
}

int micro_shm_rtt_run(const struct bench_opts *o, const char *kernel_socket,
		      struct bench_result *baseline, struct bench_result *res)
{
	struct clove_client *c = NULL;
	unsigned per = MAX(1u, o->iterations / SHM_ROUNDS);
	size_t cap = (size_t)per * SHM_ROUNDS;
	_cleanup_free_ uint64_t *base = calloc(cap, sizeof(uint64_t));
	_cleanup_free_ uint64_t *kern = calloc(cap, sizeof(uint64_t));
	int r;

	if (!base || !kern)
		return bench_fail(res, -ENOMEM, "out of memory");
	r = micro_shm_attach(kernel_socket, &c, res);
	if (r < 0)
		goto out;
	/* Warm-up of both, then alternating rounds. */
	r = pingpong_round(BENCH_WARMUP, NULL);
	if (r >= 0)
		r = shm_round(c, BENCH_WARMUP, NULL);
	for (unsigned i = 0; r >= 0 && i < SHM_ROUNDS; i++) {
		r = pingpong_round(per, base + (size_t)i * per);
		if (r >= 0)
			r = shm_round(c, per, kern + (size_t)i * per);
	}
	if (r < 0) {
		bench_fail(res, r, "round trip failed: %s", clove_strerror(r));
		goto out;
	}
	fill(baseline, base, cap);
	fill(res, kern, cap);
	snprintf(baseline->note, sizeof(baseline->note),
		 "two processes ping-pong one cache line of a shared mapping "
		 "(store, spin until the other stored), %u rounds alternating "
		 "with noop_rtt.shm.c",
		 SHM_ROUNDS);
	snprintf(res->note, sizeof(res->note),
		 "libclove clove_call(NOOP, %u bytes) over the rings of one "
		 "attached connection (client spins, then sleeps on a futex; "
		 "the kernel polls a hot ring), after %u warm-up calls",
		 BENCH_PAYLOAD, BENCH_WARMUP);
out:
	if (r < 0 && !baseline->error[0])
		snprintf(baseline->error, sizeof(baseline->error), "%s",
			 res->error);
	clove_close(c);
	return r < 0 ? r : 0;
}

/* --- an idle kernel with attached clients --- */

/* CPU time of every thread of pid, in ns (schedstat: the first field). */
static int task_cpu_ns(pid_t pid, uint64_t *ret)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return negative_errno();
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[64 + sizeof(e->d_name)];
		unsigned long long ns;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid,
			 e->d_name);
		FILE *f = fopen(p, "re");
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	*ret = sum;
	return 0;
}

static int cpu_percent(pid_t pid, double secs, double *ret)
{
	uint64_t a, b, t0 = stats_now_ns();
	int r = task_cpu_ns(pid, &a);
	if (r < 0)
		return r;
	usleep((useconds_t)(secs * 1e6));
	r = task_cpu_ns(pid, &b);
	if (r < 0)
		return r;
	*ret = (double)(b - a) * 100.0 / (double)(stats_now_ns() - t0);
	return 0;
}

int micro_shm_idle_run(const char *kernel_socket, pid_t kernel_pid,
		       struct bench_result *r)
{
	struct clove_client *clients[IDLE_CLIENTS] = { 0 };
	double before = 0, after = 0;
	int e = cpu_percent(kernel_pid, IDLE_SECONDS, &before);

	for (unsigned i = 0; e >= 0 && i < IDLE_CLIENTS; i++) {
		e = micro_shm_attach(kernel_socket, &clients[i], r);
		if (e >= 0)
			e = clove_call(clients[i], CLOVE_OP_NOOP, payload,
				       BENCH_PAYLOAD, NULL, NULL);
		if (e < 0 && !r->error[0])
			bench_fail(r, e, "client %u: %s", i + 1,
				   clove_strerror(e));
	}
	if (e >= 0) {
		/* Every ring stops being polled SHM_SPIN_US after its last
		 * call; the settling second is not measured. */
		usleep((useconds_t)(IDLE_SETTLE_S * 1e6));
		e = cpu_percent(kernel_pid, IDLE_SECONDS, &after);
		if (e < 0)
			bench_fail(r, e, "reading cloved's CPU time: %s",
				   strerror(-e));
	}
	for (unsigned i = 0; i < IDLE_CLIENTS; i++)
		clove_close(clients[i]);
	if (e < 0)
		return e;
	r->p50 = r->p99 = after;
	r->n = 1;
	r->baseline = before;
	snprintf(r->target, sizeof(r->target), "<= 2%% of a core");
	r->extra = json_pack("{s:b, s:f, s:i}", "target_met", after <= 2.0,
			     "seconds", IDLE_SECONDS, "clients", IDLE_CLIENTS);
	snprintf(r->note, sizeof(r->note),
		 "cloved's CPU time (all threads, schedstat) over %.0f s while "
		 "%u attached clients sit idle after one NOOP each, %.0f s "
		 "after their last call; baseline: the same %.0f s before they "
		 "connected",
		 IDLE_SECONDS, IDLE_CLIENTS, IDLE_SETTLE_S, IDLE_SECONDS);
	return 0;
}
