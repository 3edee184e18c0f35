/* SPDX-License-Identifier: MIT */
/*
 * clove-bench's internal interfaces: the options of a run, the shape of one
 * result row, the kernel and echo-server processes it starts and the
 * microbenchmarks. Every measurement fills a struct bench_result; main.c
 * alone turns them into JSON or a table. Functions return 0 or -errno and
 * put a human-readable reason into the result (or an err buffer) instead of
 * printing.
 */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes of NOOP payload for every latency and throughput measurement. */
#define BENCH_PAYLOAD		 16u
#define BENCH_DEFAULT_ITERATIONS 20000u
#define BENCH_DEFAULT_SECONDS	 3.0
#define BENCH_WARMUP		 2000u
#define BENCH_RSS_CONNS		 1000u
#define BENCH_TP_CONNS		 64u
#define BENCH_TP_THREADS	 2u
#define BENCH_TP_WINDOW		 16u
#define BENCH_TP_INTERVAL_MS	 100u
/* Agents started per /bin/true figure of `spawn` (Python: a tenth). */
#define BENCH_SPAWN_ITERATIONS 200u

struct bench_opts {
	/* "micro", "spawn", "ipc" or "llm". */
	char command[16];
	bool json;
	char cloved[PATH_MAX];
	char python[PATH_MAX];
	unsigned iterations;
	double seconds;
};

struct bench_result {
	char name[64];
	const char *unit;
	double p50, p99;
	uint64_t n;
	/* NaN when the result has no baseline. */
	double baseline;
	/* Set when the figure could not be measured here (not a failure). */
	char skipped[256];
	/* Set when measuring failed. */
	char error[256];
	char target[128];
	char note[256];
	/* Further fields copied into the JSON object (owned, may be NULL). */
	json_t *extra;
};

/* Clears r and names it; baseline starts as NaN. */
void bench_result_init(struct bench_result *r, const char *name,
		       const char *unit);
void bench_result_done(struct bench_result *r);
/* Formats into r->error and returns err (a -errno) for the caller. */
int bench_fail(struct bench_result *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- stats.c --- */

/* Sorts samples (nanoseconds) in place and gives the nearest-rank p50 and
 * p99 in microseconds. n must be > 0. */
void stats_summary_ns(uint64_t *samples, size_t n, double *ret_p50_us,
		      double *ret_p99_us);
/* Nearest-rank percentile p (0 < p <= 100) of n sorted doubles. */
double stats_percentile(const double *sorted, size_t n, double p);
void stats_sort_doubles(double *v, size_t n);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t stats_now_ns(void);

/* --- kernel-proc.c: a private cloved on a temporary socket --- */

struct kernel_proc {
	pid_t pid;
	/* mkdtemp directory holding the socket, state dir and log. */
	char dir[PATH_MAX];
	char socket[PATH_MAX];
	char log[PATH_MAX];
	/* --config for cloved, or "". */
	char config[PATH_MAX];
};

/*
 * Creates a temporary directory, starts cloved there and waits (up to 10 s)
 * until its socket answers. On failure everything is cleaned up and err
 * says why (including the tail of cloved's log).
 */
int kernel_proc_start(struct kernel_proc *kp, const char *cloved, char *err,
		      size_t errlen);
/* The same, with config_json (the text of a cloved config file; NULL for
 * none) written into the directory and given as --config. */
int kernel_proc_start_config(struct kernel_proc *kp, const char *cloved,
			     const char *config_json, char *err,
			     size_t errlen);
/* SIGTERM, wait (SIGKILL after 10 s), remove the directory. Idempotent.
 * Returns cloved's exit status, or -errno. */
int kernel_proc_stop(struct kernel_proc *kp);
/* A path inside the temporary directory. */
int kernel_proc_path(const struct kernel_proc *kp, const char *name, char *buf,
		     size_t len);

/* --- echo-server.c: the baseline, an io_uring echo in a child process --- */

/* Forks a child that serves a byte echo on the Unix socket at path (made
 * here, before the fork, so it accepts as soon as this returns). */
int echo_server_start(const char *path, pid_t *ret_pid);
/* A blocking client connection to it (or any Unix socket); fd or -errno. */
int echo_server_connect(const char *path);
/* Kills and reaps the child. */
void echo_server_stop(pid_t pid);

/* --- micro-rtt.c --- */

/* Round-trip latency of the plain echo (baseline) and of libclove NOOPs
 * against cloved, measured in alternating rounds so drift in the machine's
 * load hits both alike. */
int micro_rtt_run(const struct bench_opts *o, const char *echo_socket,
		  const char *kernel_socket, struct bench_result *baseline,
		  struct bench_result *c);
/* The interpreter for Python helpers: --python, else the tree's venv, else
 * python3. */
void bench_find_python(const struct bench_opts *o, char *buf, size_t len);
/* NOOP round trips through the Python SDK (noop_rtt.py in a child), over
 * the socket or the shared-memory fast path. */
int micro_rtt_python(const struct bench_opts *o, const char *kernel_socket,
		     bool fast_path, struct bench_result *r);

/* --- micro-throughput.c --- */

/* The same pipelined load against the echo server (baseline) and cloved. */
int micro_throughput_run(const struct bench_opts *o, const char *echo_socket,
			 const char *kernel_socket,
			 struct bench_result *baseline, struct bench_result *r);

/* --- spawn.c --- */

enum {
	SPAWN_RES_SANDBOXED,
	SPAWN_RES_UNSANDBOXED,
	SPAWN_RES_PYTHON,
	SPAWN_RES_BWRAP,
	SPAWN_RES_UNSHARE,
	SPAWN_RES_COUNT,
};

/* Names the SPAWN_RES_COUNT results of `spawn`. */
void spawn_results_init(struct bench_result *res);
/* Measures them against the running kernel kp (o->iterations agents per
 * /bin/true figure); failures are recorded in the results. */
int spawn_bench_run(const struct bench_opts *o, const struct kernel_proc *kp,
		    struct bench_result *res);
/* --- micro-shm.c, micro-shm-tput.c: the shared-memory fast path --- */

struct clove_client;
/* A client connected to socket with the fast path attached. */
int micro_shm_attach(const char *socket, struct clove_client **ret,
		     struct bench_result *r);
/* NOOP round trips over the rings, alternating with two processes
 * ping-ponging a cache line (the baseline). */
int micro_shm_rtt_run(const struct bench_opts *o, const char *kernel_socket,
		      struct bench_result *baseline, struct bench_result *r);
/* Batched asynchronous NOOPs: one client; 16 clients on two threads. */
int micro_shm_tput_run(const struct bench_opts *o, const char *kernel_socket,
		       struct bench_result *batch, struct bench_result *agents);
/* cloved's CPU while 100 attached clients idle (% of a core over 5 s). */
int micro_shm_idle_run(const char *kernel_socket, pid_t kernel_pid,
		       struct bench_result *r);
/* --- ipc.c --- */

/* The figures of `clove-bench ipc`, in report order. */
enum {
	IPC_NOOP_RTT,
	IPC_MSG_RTT,
	IPC_NOOP_RTT_SHM,
	IPC_MSG_RTT_SHM,
	IPC_NOOP_TP,
	IPC_MSG_TP,
	IPC_CAS_1,
	IPC_CAS_8,
	IPC_COUNT,
};

/* Measures the IPC figures against the cloved on socket. */
int ipc_run(const struct bench_opts *o, const char *socket,
	    struct bench_result *res);
/* clove-bench started by the kernel as an agent: argv[3] is "ipc-agent". */
int ipc_agent_main(int argc, char **argv);

/* --- llm.c --- */

/* The figures of `clove-bench llm`, in report order. */
enum {
	LLM_FAIRNESS,
	LLM_LIGHT_P99_HEAVY,
	LLM_LIGHT_P99_ALONE,
	LLM_OVERHEAD,
	LLM_COUNT,
};

/* Starts the fake provider and a cloved calling it, measures, stops both.
 * *ret_machine is machine(<the kernel's socket>), taken while it runs. */
int llm_bench_run(const struct bench_opts *o, struct bench_result *res,
		  json_t *(*machine)(const char *socket), json_t **ret_machine);

/* --- micro-rss.c --- */

int micro_rss_run(const struct bench_opts *o, const char *kernel_socket,
		  pid_t kernel_pid, struct bench_result *r);
/* VmRSS (or another "Vm*" field) of pid in kB. */
int micro_rss_read(pid_t pid, const char *field, uint64_t *ret_kb);
