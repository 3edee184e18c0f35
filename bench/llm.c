/* SPDX-License-Identifier: MIT */
/*
 * `clove-bench llm`: the LLM scheduler under contention. It starts the fake
 * provider (tests/fakes/fake_llm.py) at a fixed capacity, a cloved whose
 * workers call it with llm_concurrency equal to that capacity, and then
 * callers on their own connections, one thread each: nine light ones
 * keeping one THINK outstanding, first alone and then beside one heavy
 * caller keeping ten outstanding (pipelined on its connection). Figures:
 * Jain's index of the tokens served to each caller while all are
 * backlogged, the light callers' p99 latency with and without the heavy
 * one, and, from one caller alone beforehand, the kernel's time per call
 * (the reply's kernel_us: arrival to hand-over to a worker, plus result to
 * reply) next to latency_ms - provider_ms (which adds the worker's own
 * time, at millisecond resolution).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "clove.h"
#include "macro.h"

#define LLM_CAPACITY	 2
#define LLM_LATENCY_MS	 100
#define LLM_TOKENS	 50
#define LLM_LIGHTS	 9
#define LLM_HEAVY_DEPTH	 10
#define LLM_WARMUP_S	 2.0
#define LLM_MAX_SAMPLES	 4096
#define LLM_OP_THINK	 0x01

struct caller {
	pthread_t thread;
	const char *socket;
	unsigned depth;
	const volatile int *stop;
	/* Reply times (ns), tokens, client latency (ns), kernel overhead
	 * (us); written by the thread, read after it joined. */
	uint64_t at_ns[LLM_MAX_SAMPLES];
	unsigned tokens[LLM_MAX_SAMPLES];
	uint64_t lat_ns[LLM_MAX_SAMPLES];
	double overhead_us[LLM_MAX_SAMPLES];
	double kernel_us[LLM_MAX_SAMPLES];
	unsigned n;
	int err;
	char why[160];
};

static const char request[] =
	"{\"prompt\": \"a benchmark call of a few words\", \"max_tokens\": 50}";

static void record(struct caller *c, json_t *reply, uint64_t sent_ns)
{
	json_t *tokens = json_object_get(reply, "tokens");
	json_int_t total = json_integer_value(json_object_get(tokens, "total"));
	json_int_t lat = json_integer_value(json_object_get(reply, "latency_ms"));
	json_int_t prov = json_integer_value(json_object_get(reply, "provider_ms"));

	if (c->n >= LLM_MAX_SAMPLES)
		return;
	c->at_ns[c->n] = stats_now_ns();
	c->tokens[c->n] = (unsigned)total;
	c->lat_ns[c->n] = c->at_ns[c->n] - sent_ns;
	c->overhead_us[c->n] = (double)(lat - prov) * 1000.0;
	c->kernel_us[c->n] =
		(double)json_integer_value(json_object_get(reply, "kernel_us"));
	c->n++;
}

/* Keeps depth THINKs outstanding until stop, then collects the last. */
static void *caller_main(void *arg)
{
	struct caller *c = arg;
	struct clove_client *cl = NULL;
	uint64_t sent[CLOVE_MAX_PIPELINE];
	unsigned head = 0, tail = 0, outstanding = 0;
	int r = clove_connect(c->socket, &cl);

	if (r == 0)
		r = clove_set_timeout(cl, 120000);
	while (r == 0 && (outstanding < c->depth || outstanding > 0)) {
		if (!*c->stop && outstanding < c->depth) {
			r = clove_send_request(cl, LLM_OP_THINK, request,
					       sizeof(request) - 1);
			sent[tail++ % CLOVE_MAX_PIPELINE] = stats_now_ns();
			outstanding++;
			continue;
		}
		void *reply = NULL;
		size_t len = 0;
		r = clove_recv_reply(cl, NULL, &reply, &len);
		if (r < 0)
			break;
		outstanding--;
		json_t *j = json_loadb(reply, len, 0, NULL);
		clove_free(reply);
		if (!json_is_true(json_object_get(j, "success"))) {
			snprintf(c->why, sizeof(c->why), "THINK failed: %.140s",
				 json_string_value(json_object_get(j, "error")) ?:
					 "no reply");
			json_decref(j);
			r = -EIO;
			break;
		}
		record(c, j, sent[head++ % CLOVE_MAX_PIPELINE]);
		json_decref(j);
		if (*c->stop && outstanding == 0)
			break;
	}
	if (r < 0 && !c->why[0])
		snprintf(c->why, sizeof(c->why), "%s", clove_strerror(r));
	c->err = r;
	clove_close(cl);
	return NULL;
}

/* Runs the callers for seconds; 0, or -errno with why. */
static int run_callers(struct caller *cs, unsigned n, double seconds,
		       char *why, size_t len)
{
	volatile int stop = 0;
	unsigned started = 0;
	int r = 0;

	for (; started < n; started++) {
		cs[started].stop = &stop;
		if (pthread_create(&cs[started].thread, NULL, caller_main,
				   &cs[started]) != 0) {
			r = -EAGAIN;
			break;
		}
	}
	struct timespec ts = { .tv_sec = (time_t)seconds,
			       .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	stop = 1;
	for (unsigned i = 0; i < started; i++) {
		pthread_join(cs[i].thread, NULL);
		if (cs[i].err < 0 && r == 0) {
			r = cs[i].err;
			snprintf(why, len, "%s", cs[i].why);
		}
	}
	return r;
}

enum sample { SAMPLE_LATENCY_MS, SAMPLE_BEYOND_PROVIDER_US, SAMPLE_KERNEL_US };

static double sample(const struct caller *c, unsigned s, enum sample what)
{
	switch (what) {
	case SAMPLE_LATENCY_MS:
		return (double)c->lat_ns[s] / 1e6;
	case SAMPLE_BEYOND_PROVIDER_US:
		return c->overhead_us[s];
	case SAMPLE_KERNEL_US:
		return c->kernel_us[s];
	}
	return NAN;
}

/* Percentile p of one kind of sample, from from_ns on. */
static double percentile(struct caller *cs, unsigned n, uint64_t from_ns,
			 enum sample what, double p)
{
	double *v = calloc(n * LLM_MAX_SAMPLES, sizeof(double));
	size_t k = 0;
	double res = NAN;

	if (!v)
		return NAN;
	for (unsigned i = 0; i < n; i++)
		for (unsigned s = 0; s < cs[i].n; s++)
			if (cs[i].at_ns[s] >= from_ns)
				v[k++] = sample(&cs[i], s, what);
	if (k) {
		stats_sort_doubles(v, k);
		res = stats_percentile(v, k, p);
	}
	free(v);
	return res;
}

static double jain(struct caller *cs, unsigned n, uint64_t from_ns,
		   uint64_t to_ns, json_t *served)
{
	double sum = 0, sq = 0;

	for (unsigned i = 0; i < n; i++) {
		double x = 0;
		for (unsigned s = 0; s < cs[i].n; s++)
			if (cs[i].at_ns[s] >= from_ns && cs[i].at_ns[s] <= to_ns)
				x += cs[i].tokens[s];
		json_array_append_new(served, json_integer((json_int_t)x));
		sum += x;
		sq += x * x;
	}
	return sq > 0 ? sum * sum / (n * sq) : NAN;
}

/* Starts the fake provider; *ret_port from its "listening <port>" line. */
static int fake_start(const char *python, pid_t *ret_pid, int *ret_port,
		      char *why, size_t len)
{
	char script[PATH_MAX], line[64] = "";
	int fds[2];

	snprintf(script, sizeof(script), "%s/tests/fakes/fake_llm.py",
		 BENCH_REPO_DIR);
	if (access(script, R_OK) < 0) {
		snprintf(why, len, "the fake provider %.900s is missing",
			 script);
		return -ENOENT;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return negative_errno();
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return negative_errno();
	}
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(fds[1], 1) < 0)
			_exit(127);
		execl(python, python, script, "--port", "0", "--capacity", "2",
		      "--latency-ms", "100", "--tokens-per-reply", "50",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t got = 0;
	while (got < sizeof(line) - 1) {
		ssize_t n = read(fds[0], line + got, 1);
		if (n <= 0 || line[got] == '\n')
			break;
		got++;
	}
	line[got] = '\0';
	close(fds[0]);
	if (sscanf(line, "listening %d", ret_port) != 1) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		snprintf(why, len, "the fake provider did not start (%s)", line);
		return -EIO;
	}
	*ret_pid = pid;
	return 0;
}

static void fake_stop(pid_t pid)
{
	if (pid > 0) {
		(void)kill(pid, SIGTERM);
		(void)waitpid(pid, NULL, 0);
	}
}

/* The kernel's workers call the fake: OpenAI-compatible, the tree's
 * llm_worker. */
static void set_worker_env(int port)
{
	char url[64], path[PATH_MAX];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", port);
	snprintf(path, sizeof(path), "%s/llm_worker", BENCH_REPO_DIR);
	setenv("OPENAI_BASE_URL", url, 1);
	setenv("OPENAI_API_KEY", "clove-bench", 1);
	setenv("PYTHONPATH", path, 1);
}

static void fill_results(struct caller *solo, struct caller *alone,
			 struct caller *mixed, uint64_t alone_from,
			 uint64_t mixed_from, uint64_t mixed_to,
			 struct bench_result *res)
{
	json_t *served = json_array();

	res[LLM_FAIRNESS].p50 = jain(mixed, LLM_LIGHTS + 1, mixed_from,
				     mixed_to, served);
	res[LLM_FAIRNESS].p99 = res[LLM_FAIRNESS].p50;
	res[LLM_FAIRNESS].n = LLM_LIGHTS + 1;
	res[LLM_FAIRNESS].extra = json_pack("{s:o}", "tokens_served", served);
	res[LLM_LIGHT_P99_ALONE].p99 =
		percentile(alone, LLM_LIGHTS, alone_from, SAMPLE_LATENCY_MS, 99);
	res[LLM_LIGHT_P99_ALONE].p50 = res[LLM_LIGHT_P99_ALONE].p99;
	res[LLM_LIGHT_P99_HEAVY].p99 =
		percentile(mixed + 1, LLM_LIGHTS, mixed_from, SAMPLE_LATENCY_MS,
			   99);
	res[LLM_LIGHT_P99_HEAVY].p50 = res[LLM_LIGHT_P99_HEAVY].p99;
	res[LLM_LIGHT_P99_HEAVY].baseline = res[LLM_LIGHT_P99_ALONE].p99;
	/* The first call waited for the workers to start. */
	uint64_t warm = solo->n > 1 ? solo->at_ns[1] : 0;
	res[LLM_OVERHEAD].p50 = percentile(solo, 1, warm, SAMPLE_KERNEL_US, 50);
	res[LLM_OVERHEAD].p99 = percentile(solo, 1, warm, SAMPLE_KERNEL_US, 99);
	res[LLM_OVERHEAD].n = solo->n > 1 ? solo->n - 1 : 0;
	res[LLM_OVERHEAD].extra = json_pack(
		"{s:f, s:f}", "beyond_provider_us_p50",
		percentile(solo, 1, warm, SAMPLE_BEYOND_PROVIDER_US, 50),
		"kernel_us_p50_under_contention",
		percentile(mixed, LLM_LIGHTS + 1, mixed_from, SAMPLE_KERNEL_US,
			   50));
	for (unsigned i = 0; i <= LLM_LIGHTS; i++) {
		if (i < LLM_LIGHTS)
			res[LLM_LIGHT_P99_ALONE].n += alone[i].n;
		if (i > 0)
			res[LLM_LIGHT_P99_HEAVY].n += mixed[i].n;
	}
}

int llm_bench_run(const struct bench_opts *o, struct bench_result *res,
		  json_t *(*machine)(const char *socket), json_t **ret_machine)
{
	_cleanup_free_ struct caller *solo = calloc(1, sizeof(*solo));
	_cleanup_free_ struct caller *alone = calloc(LLM_LIGHTS, sizeof(*alone));
	_cleanup_free_ struct caller *mixed =
		calloc(LLM_LIGHTS + 1, sizeof(*mixed));
	struct kernel_proc kp = { 0 };
	char why[1024] = "", cfg[PATH_MAX + 256], python[PATH_MAX];
	pid_t fake = 0;
	int port = 0, r;

	if (!solo || !alone || !mixed)
		return bench_fail(&res[LLM_FAIRNESS], -ENOMEM, "out of memory");
	bench_find_python(o, python, sizeof(python));
	r = fake_start(python, &fake, &port, why, sizeof(why));
	if (r < 0)
		return bench_fail(&res[LLM_FAIRNESS], r, "%.250s", why);
	set_worker_env(port);
	snprintf(cfg, sizeof(cfg),
		 "{\"llm_provider\": \"openai\", \"llm_concurrency\": %d, "
		 "\"llm_workers\": 2, \"llm_python\": \"%s\"}",
		 LLM_CAPACITY, python);
	r = kernel_proc_start_config(&kp, o->cloved, cfg, why, sizeof(why));
	if (r < 0) {
		fake_stop(fake);
		return bench_fail(&res[LLM_FAIRNESS], r,
				  "cannot start cloved: %.200s", why);
	}
	*ret_machine = machine(kp.socket);

	double seconds = o->seconds > 0 ? o->seconds : BENCH_DEFAULT_SECONDS;
	seconds = MAX(seconds, 4.0) + LLM_WARMUP_S;
	/* One caller alone: the kernel's own time per call. */
	*solo = (struct caller){ .socket = kp.socket, .depth = 1 };
	r = run_callers(solo, 1, 2 * LLM_WARMUP_S, why, sizeof(why));
	for (unsigned i = 0; i < LLM_LIGHTS; i++)
		alone[i] = (struct caller){ .socket = kp.socket, .depth = 1 };
	uint64_t alone_from = stats_now_ns() + (uint64_t)(LLM_WARMUP_S * 1e9);
	if (r == 0)
		r = run_callers(alone, LLM_LIGHTS, seconds, why, sizeof(why));
	if (r == 0) {
		mixed[0] = (struct caller){ .socket = kp.socket,
					    .depth = LLM_HEAVY_DEPTH };
		for (unsigned i = 1; i <= LLM_LIGHTS; i++)
			mixed[i] = (struct caller){ .socket = kp.socket,
						    .depth = 1 };
		uint64_t from = stats_now_ns() + (uint64_t)(LLM_WARMUP_S * 1e9);
		uint64_t to = stats_now_ns() + (uint64_t)(seconds * 1e9);
		r = run_callers(mixed, LLM_LIGHTS + 1, seconds, why, sizeof(why));
		if (r == 0)
			fill_results(solo, alone, mixed, alone_from, from, to,
				     res);
	}
	if (r < 0)
		(void)bench_fail(&res[LLM_FAIRNESS], r, "%.250s", why);
	if (kernel_proc_stop(&kp) != 0)
		snprintf(res[LLM_FAIRNESS].note, sizeof(res[LLM_FAIRNESS].note),
			 "cloved did not stop cleanly");
	fake_stop(fake);
	return r;
}
