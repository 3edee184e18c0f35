/* SPDX-License-Identifier: MIT */
/*
 * clove-bench: reproducible measurements of Clove. `clove-bench micro`
 * starts a private cloved (and a plain io_uring echo server as the
 * baseline) in a temporary directory, measures round-trip latency from C
 * and Python, pipelined throughput over 64 connections and the kernel's
 * memory with 1000 idle connections, stops both and prints one JSON object
 * (--json) or a table. `clove-bench spawn` measures starting sandboxed
 * agents against bubblewrap and unshare(1) (spawn.c). Each figure sits next
 * to a baseline measured in the same run, because the machines are shared
 * and noisy: compare ratios, not absolute numbers across runs. Targets are
 * reported, never enforced.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "clove-config.h"
#include "clove.h"
#include "log.h"
#include "macro.h"

enum {
	RES_BASELINE,
	RES_RTT_C,
	RES_RTT_PY,
	RES_TP_BASELINE,
	RES_TP,
	RES_RSS,
	RES_SHM_BASELINE,
	RES_SHM_RTT_C,
	RES_SHM_RTT_PY,
	RES_SHM_TP_BATCH,
	RES_SHM_TP_AGENTS,
	RES_SHM_IDLE,
	RES_COUNT,
};

struct run {
	struct bench_opts opts;
	json_t *machine;
	struct bench_result res[RES_COUNT];
	struct bench_result spawn_res[SPAWN_RES_COUNT];
	struct bench_result ipc_res[IPC_COUNT];
	struct bench_result llm_res[LLM_COUNT];
	/* The command's results: res, spawn_res or ipc_res. */
	struct bench_result *results;
	unsigned nresults;
};

void bench_result_init(struct bench_result *r, const char *name,
		       const char *unit)
{
	*r = (struct bench_result){ .unit = unit, .baseline = NAN };
	snprintf(r->name, sizeof(r->name), "%s", name);
}

void bench_result_done(struct bench_result *r)
{
	json_decref(r->extra);
	r->extra = NULL;
}

int bench_fail(struct bench_result *r, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -EIO;
}

static const char usage[] =
	"Usage: clove-bench micro|spawn|ipc|llm [OPTIONS]\n"
	"\n"
	"Starts a private cloved on a temporary socket, then\n"
	"  micro  measures NOOP round trips (C and Python) against a plain\n"
	"         io_uring echo baseline, pipelined throughput over 64\n"
	"         connections, kernel RSS with 1000 idle connections, and the\n"
	"         shared-memory fast path: round trips against two processes\n"
	"         ping-ponging a cache line, batched throughput (1 and 16\n"
	"         clients) and the idle kernel's CPU with 100 attached clients;\n"
	"  spawn  measures starting sandboxed agents (/bin/true to its exit,\n"
	"         Python to its first syscall) against bwrap and unshare;\n"
	"  ipc    measures agent-to-agent message round trips (next to NOOP\n"
	"         round trips), messages/s from 8 sender agents to 1 receiver\n"
	"         (next to the same senders' NOOPs/s) and compare-and-swap/s\n"
	"         with 8 agents on one key (next to 1 agent alone);\n"
	"  llm    starts the fake LLM provider (capacity 2) and measures the\n"
	"         scheduler: Jain's index of the tokens served to 1 heavy\n"
	"         caller (10 calls outstanding) and 9 light ones (1 each), the\n"
	"         light callers' p99 latency beside the heavy one and alone,\n"
	"         and the kernel's time per call beyond the provider's.\n"
	"\n"
	"  --json            print one JSON object instead of a table\n"
	"  --cloved PATH     kernel binary (default: <dir of clove-bench>/../kernel/cloved)\n"
	"  --python PATH     interpreter for the Python SDK figure\n"
	"                    (default: <repo>/.venv/bin/python, else python3)\n"
	"  --iterations N    round trips per latency figure (default 20000);\n"
	"                    spawn: agents per /bin/true figure (default 200)\n"
	"  --seconds S       duration of the throughput run (default 3)\n"
	"  -h, --help        this text\n"
	"  --version         print the version\n";

static void default_cloved(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, len, "%s/../kernel/cloved", dirname(self));
		if (access(buf, X_OK) == 0)
			return;
	}
	/* An installed clove-bench: the installed kernel. */
	snprintf(buf, len, "%s/sbin/cloved", CLOVE_PREFIX);
}

static int parse_number(const char *arg, double min, double max, double *ret)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= min && v <= max))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -EINVAL on bad usage. */
static int parse_args(struct bench_opts *o, int argc, char **argv)
{
	enum {
		OPT_JSON = 256,
		OPT_CLOVED,
		OPT_PYTHON,
		OPT_ITER,
		OPT_SECS,
		OPT_VER
	};
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "cloved", required_argument, NULL, OPT_CLOVED },
		{ "python", required_argument, NULL, OPT_PYTHON },
		{ "iterations", required_argument, NULL, OPT_ITER },
		{ "seconds", required_argument, NULL, OPT_SECS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VER },
		{ 0 },
	};
	bool iterations_given = false;
	double v;
	int c;

	*o = (struct bench_opts){ .iterations = BENCH_DEFAULT_ITERATIONS,
				  .seconds = BENCH_DEFAULT_SECONDS };
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_CLOVED:
			snprintf(o->cloved, sizeof(o->cloved), "%s", optarg);
			break;
		case OPT_PYTHON:
			snprintf(o->python, sizeof(o->python), "%s", optarg);
			break;
		case OPT_ITER:
			if (parse_number(optarg, 10, 1e8, &v) < 0)
				return -EINVAL;
			o->iterations = (unsigned)v;
			iterations_given = true;
			break;
		case OPT_SECS:
			if (parse_number(optarg, 0.2, 3600, &v) < 0)
				return -EINVAL;
			o->seconds = v;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case OPT_VER:
			printf("clove-bench %s\n", CLOVE_VERSION);
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind + 1 != argc || (strcmp(argv[optind], "micro") != 0 &&
				   strcmp(argv[optind], "spawn") != 0 &&
				   strcmp(argv[optind], "ipc") != 0 &&
				   strcmp(argv[optind], "llm") != 0))
		return -EINVAL;
	snprintf(o->command, sizeof(o->command), "%s", argv[optind]);
	if (strcmp(o->command, "spawn") == 0 && !iterations_given)
		o->iterations = BENCH_SPAWN_ITERATIONS;
	if (!o->cloved[0])
		default_cloved(o->cloved, sizeof(o->cloved));
	return 0;
}

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	snprintf(buf, len, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon += strspn(colon + 1, " \t") + 1;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* Version and pid as the running kernel reports them (HELLO). */
static void kernel_facts(const char *socket, char *ver, size_t len)
{
	struct clove_client *c = NULL;
	void *reply = NULL;
	size_t rlen = 0;

	snprintf(ver, len, "unknown");
	if (clove_connect(socket, &c) == 0 &&
	    clove_call(c, CLOVE_OP_HELLO, "{}", 2, &reply, &rlen) == 0) {
		json_t *j = json_loadb(reply, rlen, 0, NULL);
		json_t *v = json_object_get(j, "kernel_version");
		if (json_is_string(v))
			snprintf(ver, len, "%s", json_string_value(v));
		json_decref(j);
	}
	clove_free(reply);
	clove_close(c);
}

static json_t *machine_info(const char *kernel_socket)
{
	struct utsname u;
	char model[256], date[32], ver[64];
	double load[1] = { NAN };
	time_t now = time(NULL);
	struct tm tm;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	cpu_model(model, sizeof(model));
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	kernel_facts(kernel_socket, ver, sizeof(ver));
	(void)getloadavg(load, 1);
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:f}", "kernel",
			 u.release, "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN),
			 "cpu_model", model, "date", date, "clove_version", ver,
			 "libclove_version", clove_version(), "loadavg_1m",
			 isnan(load[0]) ? 0.0 : load[0]);
}

/* Sets the same-run baseline, ratio target and verdict of a latency. */
static void rtt_target(struct bench_result *r, const struct bench_result *base,
		       double max_ratio)
{
	if (base->n == 0)
		return;
	r->baseline = base->p50;
	snprintf(r->target, sizeof(r->target), "p50 <= %.1f x %s p50 (%.2f us)",
		 max_ratio, base->name, max_ratio * base->p50);
	if (r->n == 0)
		return;
	if (!r->extra)
		r->extra = json_object();
	json_object_set_new(r->extra, "target_met",
			    json_boolean(r->p50 <= max_ratio * base->p50));
}

static json_t *result_json(const struct bench_result *r)
{
	json_t *o = json_pack("{s:s, s:s}", "name", r->name, "unit", r->unit);
	bool measured = r->n > 0 && !r->skipped[0] && !r->error[0];

	json_object_set_new(o, "p50",
			    measured ? json_real(r->p50) : json_null());
	json_object_set_new(o, "p99",
			    measured ? json_real(r->p99) : json_null());
	json_object_set_new(o, "n",
			    json_integer(measured ? (json_int_t)r->n : 0));
	if (!isnan(r->baseline)) {
		json_object_set_new(o, "baseline", json_real(r->baseline));
		if (measured && r->baseline > 0)
			json_object_set_new(o, "ratio_to_baseline",
					    json_real(r->p50 / r->baseline));
	}
	if (r->target[0])
		json_object_set_new(o, "target", json_string(r->target));
	if (measured && r->extra)
		json_object_update_missing(o, r->extra);
	if (r->skipped[0])
		json_object_set_new(o, "skipped", json_string(r->skipped));
	if (r->error[0])
		json_object_set_new(o, "error", json_string(r->error));
	if (r->note[0])
		json_object_set_new(o, "note", json_string(r->note));
	return o;
}

static int print_json(const struct run *run)
{
	json_t *results = json_array();
	for (unsigned i = 0; i < run->nresults; i++)
		json_array_append_new(results, result_json(&run->results[i]));
	json_t *doc = json_pack("{s:O, s:o}", "machine", run->machine,
				"results", results);
	int r = json_dumpf(doc, stdout,
			   JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				   JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
	json_decref(doc);
	return r < 0 ? -EIO : 0;
}

static void print_row(const struct bench_result *r)
{
	char base[32] = "", ratio[32] = "";
	if (r->skipped[0] || r->error[0]) {
		printf("%-36s %-8s %s: %s\n", r->name, r->unit,
		       r->error[0] ? "ERROR" : "skipped",
		       r->error[0] ? r->error : r->skipped);
		return;
	}
	if (!isnan(r->baseline)) {
		snprintf(base, sizeof(base), "%.2f", r->baseline);
		snprintf(ratio, sizeof(ratio), "%.2fx", r->p50 / r->baseline);
	}
	json_t *met = r->extra ? json_object_get(r->extra, "target_met") : NULL;
	const char *verdict = "";
	if (met)
		verdict = json_is_true(met) ? "target met" : "TARGET MISSED";
	printf("%-36s %-8s %12.2f %12.2f %9llu %10s %7s  %s\n", r->name,
	       r->unit, r->p50, r->p99, (unsigned long long)r->n, base, ratio,
	       verdict);
}

static void print_extra(const struct bench_result *r)
{
	const size_t flags =
		JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4);
	char *text = r->extra ? json_dumps(r->extra, flags) : NULL;
	if (text)
		printf("%s: %s\n", r->name, text);
	free(text);
}

static void print_table(const struct run *run)
{
	json_t *m = run->machine;
	printf("clove-bench %s: Linux %s, %d cpus (%s), clove %s, %s, "
	       "load %.2f\n\n",
	       run->opts.command,
	       json_string_value(json_object_get(m, "kernel")),
	       (int)json_integer_value(json_object_get(m, "cpus")),
	       json_string_value(json_object_get(m, "cpu_model")),
	       json_string_value(json_object_get(m, "clove_version")),
	       json_string_value(json_object_get(m, "date")),
	       json_real_value(json_object_get(m, "loadavg_1m")));
	printf("%-36s %-8s %12s %12s %9s %10s %7s\n", "name", "unit", "p50",
	       "p99", "n", "baseline", "ratio");
	for (unsigned i = 0; i < run->nresults; i++)
		print_row(&run->results[i]);
	printf("\n");
	for (unsigned i = 0; i < run->nresults; i++) {
		const struct bench_result *r = &run->results[i];
		if (r->target[0])
			printf("%s target: %s\n", r->name, r->target);
		if (r->note[0])
			printf("%s: %s\n", r->name, r->note);
		print_extra(r);
	}
}

static void init_results(struct run *run)
{
	bench_result_init(&run->res[RES_BASELINE], "baseline.uds_echo_rtt",
			  "us");
	bench_result_init(&run->res[RES_RTT_C], "noop_rtt.uds.c", "us");
	bench_result_init(&run->res[RES_RTT_PY], "noop_rtt.uds.python", "us");
	bench_result_init(&run->res[RES_TP_BASELINE],
			  "baseline.uds_echo_throughput.64conn", "calls/s");
	bench_result_init(&run->res[RES_TP], "noop_throughput.uds.c.64conn",
			  "calls/s");
	bench_result_init(&run->res[RES_RSS], "kernel_rss_kb.1000conn", "kB");
	bench_result_init(&run->res[RES_SHM_BASELINE],
			  "baseline.shm_busy_poll_rtt", "us");
	bench_result_init(&run->res[RES_SHM_RTT_C], "noop_rtt.shm.c", "us");
	bench_result_init(&run->res[RES_SHM_RTT_PY], "noop_rtt.shm.python",
			  "us");
	bench_result_init(&run->res[RES_SHM_TP_BATCH],
			  "noop_throughput.shm.c.batch", "calls/s");
	bench_result_init(&run->res[RES_SHM_TP_AGENTS],
			  "noop_throughput.shm.c.16agents", "calls/s");
	bench_result_init(&run->res[RES_SHM_IDLE], "kernel_cpu_idle.100agents",
			  "%core");
}

/* noop_rtt.shm.c has two targets: against the busy-poll floor (its
 * baseline) and against the socket round trip. */
static void shm_rtt_targets(struct bench_result *res)
{
	struct bench_result *c = &res[RES_SHM_RTT_C];
	const struct bench_result *floor = &res[RES_SHM_BASELINE];
	const struct bench_result *uds = &res[RES_RTT_C];

	if (c->n == 0 || floor->n == 0)
		return;
	c->baseline = floor->p50;
	bool met = c->p50 <= 3.0 * floor->p50;
	if (uds->n > 0) {
		met = met && c->p50 <= 0.2 * uds->p50;
		json_object_set_new(c->extra ? c->extra
					     : (c->extra = json_object()),
				    "ratio_to_noop_rtt.uds.c",
				    json_real(c->p50 / uds->p50));
	}
	snprintf(c->target, sizeof(c->target),
		 "p50 <= 3 x baseline.shm_busy_poll_rtt p50 (%.2f us) and "
		 "<= 0.2 x noop_rtt.uds.c p50 (%.2f us)",
		 3.0 * floor->p50, uds->n ? 0.2 * uds->p50 : 0.0);
	if (!c->extra)
		c->extra = json_object();
	json_object_set_new(c->extra, "target_met", json_boolean(met));
}

/* The fast path's figures, after the socket's: they need the socket's
 * round trips as references. */
static void measure_shm(struct run *run, const struct kernel_proc *kp)
{
	const struct bench_opts *o = &run->opts;
	struct bench_result *res = run->res;

	log_info("fast path: round trips (C) against the busy-poll floor");
	(void)micro_shm_rtt_run(o, kp->socket, &res[RES_SHM_BASELINE],
				&res[RES_SHM_RTT_C]);
	shm_rtt_targets(res);
	log_info("fast path: round trips (Python SDK)");
	(void)micro_rtt_python(o, kp->socket, true, &res[RES_SHM_RTT_PY]);
	if (res[RES_RTT_PY].n > 0 && res[RES_SHM_RTT_PY].n > 0) {
		struct bench_result *p = &res[RES_SHM_RTT_PY];
		p->baseline = res[RES_RTT_PY].p50;
		snprintf(p->target, sizeof(p->target),
			 "p50 <= 0.5 x noop_rtt.uds.python p50 (%.2f us)",
			 0.5 * p->baseline);
		p->extra = json_pack("{s:b}", "target_met",
				     p->p50 <= 0.5 * p->baseline);
	}
	log_info("fast path: batched throughput, 1 and %d clients, %.1f s "
		 "each",
		 16, o->seconds);
	(void)micro_shm_tput_run(o, kp->socket, &res[RES_SHM_TP_BATCH],
				 &res[RES_SHM_TP_AGENTS]);
	if (res[RES_TP].n > 0)
		res[RES_SHM_TP_AGENTS].baseline = res[RES_TP].p50;
	log_info("fast path: idle kernel with 100 attached clients (2 x 5 s)");
	(void)micro_shm_idle_run(kp->socket, kp->pid, &res[RES_SHM_IDLE]);
}

static void init_ipc_results(struct run *run)
{
	struct bench_result *res = run->ipc_res;

	bench_result_init(&res[IPC_NOOP_RTT], "baseline.noop_rtt.uds", "us");
	bench_result_init(&res[IPC_MSG_RTT], "ipc.msg_rtt.uds", "us");
	bench_result_init(&res[IPC_NOOP_RTT_SHM], "baseline.noop_rtt.shm",
			  "us");
	bench_result_init(&res[IPC_MSG_RTT_SHM], "ipc.msg_rtt.shm", "us");
	bench_result_init(&res[IPC_NOOP_TP], "baseline.noop_throughput.8agents",
			  "calls/s");
	bench_result_init(&res[IPC_MSG_TP], "ipc.msg_throughput", "msgs/s");
	bench_result_init(&res[IPC_CAS_1], "baseline.state.cas_ops.1agent",
			  "cas/s");
	bench_result_init(&res[IPC_CAS_8], "state.cas_ops", "cas/s");
	snprintf(
		res[IPC_MSG_RTT].note, sizeof(res[IPC_MSG_RTT].note),
		"agent A SENDs to its child B and waits in RECV; B, waiting "
		"in RECV, SENDs it back: 4 syscalls and 4 durable commits (two "
		"stores, two takes) per round trip");
	snprintf(res[IPC_MSG_RTT_SHM].note, sizeof(res[IPC_MSG_RTT_SHM].note),
		 "the same, both agents on the shared-memory rings (msgpack); "
		 "baseline: NOOP round trips over the rings");
	snprintf(res[IPC_MSG_TP].note, sizeof(res[IPC_MSG_TP].note),
		 "8 sender agents, 16 SENDs in flight each, one receiver "
		 "draining with RECV max 256; rate between the first and last "
		 "message received");
	snprintf(res[IPC_CAS_8].note, sizeof(res[IPC_CAS_8].note),
		 "8 agents increment one global key with STORE if_version, "
		 "retrying from the ESTALE reply; successful CAS per second");
}

static void init_llm_results(struct run *run)
{
	struct bench_result *res = run->llm_res;

	bench_result_init(&res[LLM_FAIRNESS], "llm.fairness.jain", "index");
	bench_result_init(&res[LLM_LIGHT_P99_HEAVY], "llm.light_p99_ms.with_heavy",
			  "ms");
	bench_result_init(&res[LLM_LIGHT_P99_ALONE], "llm.light_p99_ms.alone",
			  "ms");
	bench_result_init(&res[LLM_OVERHEAD], "llm.sched_overhead_us", "us");
	snprintf(res[LLM_FAIRNESS].target, sizeof(res[LLM_FAIRNESS].target),
		 ">= 0.95");
	snprintf(res[LLM_FAIRNESS].note, sizeof(res[LLM_FAIRNESS].note),
		 "tokens served per caller while all are backlogged (after a "
		 "2 s warm-up): 1 heavy caller with 10 THINKs outstanding, 9 "
		 "light with 1; fake provider capacity 2 = llm_concurrency");
	snprintf(res[LLM_LIGHT_P99_HEAVY].target,
		 sizeof(res[LLM_LIGHT_P99_HEAVY].target), "<= 1.5x alone");
	snprintf(res[LLM_LIGHT_P99_HEAVY].note,
		 sizeof(res[LLM_LIGHT_P99_HEAVY].note),
		 "client-side THINK latency of the 9 light callers; baseline: "
		 "the same callers without the heavy one (the provider takes "
		 "100 ms a call)");
	snprintf(res[LLM_OVERHEAD].target, sizeof(res[LLM_OVERHEAD].target),
		 "p50 <= 200");
	snprintf(res[LLM_OVERHEAD].note, sizeof(res[LLM_OVERHEAD].note),
		 "one caller alone: the reply's kernel_us (arrival to the "
		 "worker, result to reply); beyond_provider_us_p50 adds the "
		 "worker's time (latency_ms - provider_ms, ms resolution)");
}

static int run_llm(struct run *run)
{
	log_info("llm: fairness, latency and overhead of the LLM scheduler");
	int r = llm_bench_run(&run->opts, run->llm_res, machine_info,
			      &run->machine);
	if (!run->machine)
		run->machine = json_object();
	return r < 0 && !run->llm_res[LLM_FAIRNESS].error[0] ? r : 0;
}

/* The private kernel a command measures, and the machine it runs on. */
static int start_measured_kernel(struct run *run, struct kernel_proc *kp)
{
	char err[1024];
	int r = kernel_proc_start(kp, run->opts.cloved, err, sizeof(err));

	if (r < 0) {
		log_error("cannot start %s: %s", run->opts.cloved, err);
		return r;
	}
	run->machine = machine_info(kp->socket);
	return 0;
}

static int run_ipc(struct run *run)
{
	struct bench_result *res = run->ipc_res;
	struct kernel_proc kp;
	int r;

	r = start_measured_kernel(run, &kp);
	if (r < 0)
		return r;
	log_info("ipc: message round trips, throughput and CAS by agents");
	r = ipc_run(&run->opts, kp.socket, res);
	if (r < 0)
		log_error("cannot talk to the kernel: %s", strerror(-r));
	if (res[IPC_NOOP_RTT].n > 0)
		res[IPC_MSG_RTT].baseline = res[IPC_NOOP_RTT].p50;
	if (res[IPC_NOOP_RTT_SHM].n > 0)
		res[IPC_MSG_RTT_SHM].baseline = res[IPC_NOOP_RTT_SHM].p50;
	if (res[IPC_NOOP_TP].n > 0)
		res[IPC_MSG_TP].baseline = res[IPC_NOOP_TP].p50;
	if (res[IPC_CAS_1].n > 0)
		res[IPC_CAS_8].baseline = res[IPC_CAS_1].p50;
	if (kernel_proc_stop(&kp) != 0)
		log_warn("cloved did not stop cleanly");
	return r;
}

/* The measurements, in an order that keeps them independent: memory first
 * on the fresh kernel (so its baseline is the idle kernel), then latency,
 * then the throughput run that loads both cores. */
static void measure_all(struct run *run, const struct kernel_proc *kp,
			const char *echo_socket)
{
	const struct bench_opts *o = &run->opts;
	struct bench_result *res = run->res;

	log_info("memory with %u idle connections", BENCH_RSS_CONNS);
	(void)micro_rss_run(o, kp->socket, kp->pid, &res[RES_RSS]);
	log_info("round trips: baseline and libclove, %u each", o->iterations);
	(void)micro_rtt_run(o, echo_socket, kp->socket, &res[RES_BASELINE],
			    &res[RES_RTT_C]);
	log_info("round trips: Python SDK, %u", o->iterations);
	(void)micro_rtt_python(o, kp->socket, false, &res[RES_RTT_PY]);
	log_info("throughput: %u connections, %u threads, %.1f s",
		 BENCH_TP_CONNS, BENCH_TP_THREADS, o->seconds);
	(void)micro_throughput_run(o, echo_socket, kp->socket,
				   &res[RES_TP_BASELINE], &res[RES_TP]);

	rtt_target(&res[RES_RTT_C], &res[RES_BASELINE], 1.3);
	rtt_target(&res[RES_RTT_PY], &res[RES_BASELINE], 3.0);
	if (res[RES_TP_BASELINE].n > 0)
		res[RES_TP].baseline = res[RES_TP_BASELINE].p50;
	measure_shm(run, kp);
}

static int run_spawn(struct run *run)
{
	struct kernel_proc kp;
	int r;

	r = start_measured_kernel(run, &kp);
	if (r < 0)
		return r;
	log_info("spawn: %u agents per /bin/true figure, interleaved",
		 run->opts.iterations);
	(void)spawn_bench_run(&run->opts, &kp, run->spawn_res);
	r = kernel_proc_stop(&kp);
	if (r != 0)
		log_warn("cloved did not stop cleanly (%s %d)",
			 r < 0 ? "error" : "status", r < 0 ? -r : r);
	return 0;
}

static int run_micro(struct run *run)
{
	struct kernel_proc kp;
	char err[1024], echo_socket[PATH_MAX];
	pid_t echo_pid = 0;
	int r;

	r = kernel_proc_start(&kp, run->opts.cloved, err, sizeof(err));
	if (r < 0) {
		log_error("cannot start %s: %s", run->opts.cloved, err);
		return r;
	}
	r = kernel_proc_path(&kp, "echo.sock", echo_socket,
			     sizeof(echo_socket));
	if (r >= 0)
		r = echo_server_start(echo_socket, &echo_pid);
	if (r < 0) {
		log_error("cannot start the baseline echo server: %s",
			  strerror(-r));
		(void)kernel_proc_stop(&kp);
		return r;
	}

	run->machine = machine_info(kp.socket);
	measure_all(run, &kp, echo_socket);

	echo_server_stop(echo_pid);
	r = kernel_proc_stop(&kp);
	if (r != 0)
		log_warn("cloved did not stop cleanly (%s %d)",
			 r < 0 ? "error" : "status", r < 0 ? -r : r);
	return 0;
}

int main(int argc, char **argv)
{
	struct run run = { 0 };
	int r;

	/* Started by the kernel as an agent of `clove-bench ipc`:
	 * argv = [self, self, socket, "ipc-agent", role, ...]. */
	if (argc > 3 && strcmp(argv[3], "ipc-agent") == 0)
		return ipc_agent_main(argc, argv);
	r = parse_args(&run.opts, argc, argv);
	if (r != 0) {
		if (r < 0)
			fputs(usage, stderr);
		return r < 0 ? 2 : 0;
	}
	/* Progress goes to stderr; stdout is only the report. */
	log_set_level(LOG_LVL_INFO);
	if (strcmp(run.opts.command, "spawn") == 0) {
		spawn_results_init(run.spawn_res);
		run.results = run.spawn_res;
		run.nresults = SPAWN_RES_COUNT;
		r = run_spawn(&run);
	} else if (strcmp(run.opts.command, "llm") == 0) {
		init_llm_results(&run);
		run.results = run.llm_res;
		run.nresults = LLM_COUNT;
		r = run_llm(&run);
	} else if (strcmp(run.opts.command, "ipc") == 0) {
		init_ipc_results(&run);
		run.results = run.ipc_res;
		run.nresults = IPC_COUNT;
		r = run_ipc(&run);
	} else {
		init_results(&run);
		run.results = run.res;
		run.nresults = RES_COUNT;
		r = run_micro(&run);
	}
	if (r >= 0) {
		if (run.opts.json)
			r = print_json(&run);
		else
			print_table(&run);
	}

	bool failed = r < 0;
	for (unsigned i = 0; i < run.nresults; i++) {
		if (run.results[i].error[0]) {
			log_error("%s: %s", run.results[i].name,
				  run.results[i].error);
			failed = true;
		}
		bench_result_done(&run.results[i]);
	}
	json_decref(run.machine);
	return failed ? 1 : 0;
}
