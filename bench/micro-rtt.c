/* SPDX-License-Identifier: MIT */
/*
 * Round-trip latency: one request in flight, one connection, each call
 * timed on its own with CLOCK_MONOTONIC. The baseline (a 17+N byte frame
 * written to the loop-library echo server and read back with plain
 * write/read) and libclove's NOOP against cloved run in alternating rounds
 * after a shared warm-up, so a burst of load from a neighbour on this
 * shared machine lands on both instead of skewing their ratio. The Python
 * figure comes from noop_rtt.py, run as a child with the project's virtual
 * environment; it times itself and prints a JSON summary.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "clove.h"
#include "macro.h"
#include "proto.h"

#define RTT_ROUNDS 10u
#define FRAME_SIZE (PROTO_HEADER_SIZE + BENCH_PAYLOAD)

struct rtt_side {
	uint64_t *samples;
	size_t n;
};

/* One baseline round trip: write the frame, read as many bytes back. */
static int echo_once(int fd, const uint8_t *frame, uint8_t *back)
{
	ssize_t n = write(fd, frame, FRAME_SIZE);
	if (n != (ssize_t)FRAME_SIZE)
		return n < 0 ? negative_errno() : -EIO;
	for (size_t got = 0; got < FRAME_SIZE; got += (size_t)n) {
		n = read(fd, back + got, FRAME_SIZE - got);
		if (n <= 0)
			return n < 0 ? negative_errno() : -ECONNRESET;
	}
	return 0;
}

static int noop_once(struct clove_client *c, const uint8_t *payload)
{
	void *reply = NULL;
	size_t len = 0;
	int r = clove_call(c, CLOVE_OP_NOOP, payload, BENCH_PAYLOAD, &reply,
			   &len);
	if (r >= 0 &&
	    (len != BENCH_PAYLOAD || memcmp(reply, payload, len) != 0))
		r = -EBADMSG;
	clove_free(reply);
	return r;
}

/* count round trips of each kind; samples are recorded when side != NULL. */
static int run_batch(int echo_fd, struct clove_client *c, unsigned count,
		     struct rtt_side *base, struct rtt_side *kern)
{
	uint8_t frame[FRAME_SIZE], back[FRAME_SIZE];
	const uint8_t *payload = frame + PROTO_HEADER_SIZE;

	proto_encode_header(frame, 0, OP_NOOP, BENCH_PAYLOAD);
	memcpy(frame + PROTO_HEADER_SIZE, "clove-bench-noop", BENCH_PAYLOAD);

	for (unsigned i = 0; i < count; i++) {
		uint64_t t0 = stats_now_ns();
		int r = echo_once(echo_fd, frame, back);
		uint64_t t1 = stats_now_ns();
		if (r < 0)
			return r;
		if (base)
			base->samples[base->n++] = t1 - t0;
	}
	for (unsigned i = 0; i < count; i++) {
		uint64_t t0 = stats_now_ns();
		int r = noop_once(c, payload);
		uint64_t t1 = stats_now_ns();
		if (r < 0)
			return r;
		if (kern)
			kern->samples[kern->n++] = t1 - t0;
	}
	return 0;
}

/* p50 in microseconds of samples[from, to), sorted on a copy. */
static double slice_p50(const uint64_t *samples, size_t from, size_t to)
{
	size_t n = to - from;
	_cleanup_free_ uint64_t *copy = malloc(n * sizeof(*copy));
	double p50 = 0, p99;
	if (!copy || n == 0)
		return 0;
	memcpy(copy, samples + from, n * sizeof(*copy));
	stats_summary_ns(copy, n, &p50, &p99);
	return p50;
}

/* The median of a JSON array of numbers (0 when empty). */
static double median_of(json_t *numbers)
{
	double v[RTT_ROUNDS];
	size_t n = 0, i;
	json_t *x;

	json_array_foreach(numbers, i, x)
		if (n < RTT_ROUNDS)
			v[n++] = json_number_value(x);
	if (n == 0)
		return 0;
	stats_sort_doubles(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Warm-up, then RTT_ROUNDS alternating rounds; each round's own p50 ratio
 * goes into ratios, to show how much the pair moved with the load. */
static int measure(const struct bench_opts *o, int echo_fd,
		   struct clove_client *c, struct rtt_side *base,
		   struct rtt_side *kern, json_t *ratios)
{
	int r = run_batch(echo_fd, c, BENCH_WARMUP, NULL, NULL);
	for (unsigned round = 0; r >= 0 && round < RTT_ROUNDS; round++) {
		unsigned count = o->iterations / RTT_ROUNDS +
				 (round < o->iterations % RTT_ROUNDS);
		size_t b0 = base->n, k0 = kern->n;
		r = run_batch(echo_fd, c, count, base, kern);
		double pb = slice_p50(base->samples, b0, base->n);
		double pk = slice_p50(kern->samples, k0, kern->n);
		if (r >= 0 && pb > 0)
			json_array_append_new(ratios, json_real(pk / pb));
	}
	return r;
}

int micro_rtt_run(const struct bench_opts *o, const char *echo_socket,
		  const char *kernel_socket, struct bench_result *baseline,
		  struct bench_result *c_res)
{
	struct rtt_side base = { 0 }, kern = { 0 };
	struct clove_client *c = NULL;
	int r;

	_cleanup_close_ int echo_fd = echo_server_connect(echo_socket);
	/* Either both figures or neither: the ratio needs the pair. */
	if (echo_fd < 0) {
		r = bench_fail(c_res, echo_fd, "connect to the echo server: %s",
			       strerror(-echo_fd));
		goto out;
	}
	r = clove_connect(kernel_socket, &c);
	if (r < 0) {
		bench_fail(c_res, r, "clove_connect %s: %s", kernel_socket,
			   clove_strerror(r));
		goto out;
	}

	base.samples = calloc(o->iterations, sizeof(uint64_t));
	kern.samples = calloc(o->iterations, sizeof(uint64_t));
	if (!base.samples || !kern.samples) {
		r = bench_fail(c_res, -ENOMEM, "out of memory for samples");
		goto out;
	}
	json_t *ratios = json_array();
	r = measure(o, echo_fd, c, &base, &kern, ratios);
	c_res->extra = json_pack("{s:f, s:o}", "round_ratio_median",
				 median_of(ratios), "round_ratios", ratios);
	if (r < 0) {
		bench_fail(c_res, r, "round trip failed: %s",
			   clove_strerror(r));
		goto out;
	}
	stats_summary_ns(base.samples, base.n, &baseline->p50, &baseline->p99);
	baseline->n = base.n;
	stats_summary_ns(kern.samples, kern.n, &c_res->p50, &c_res->p99);
	c_res->n = kern.n;
	snprintf(
		baseline->note, sizeof(baseline->note),
		"io_uring echo (kernel/core/loop.h) in a child process; client "
		"write()+read() of %u bytes; %u rounds alternating with "
		"noop_rtt.uds.c",
		FRAME_SIZE, RTT_ROUNDS);
	snprintf(
		c_res->note, sizeof(c_res->note),
		"libclove clove_call(NOOP, %u bytes), one connection, after %u "
		"warm-up calls",
		BENCH_PAYLOAD, BENCH_WARMUP);
out:
	if (r < 0)
		snprintf(baseline->error, sizeof(baseline->error), "%s",
			 c_res->error);
	free(base.samples);
	free(kern.samples);
	clove_close(c);
	return r < 0 ? r : 0;
}

/* --- the Python SDK, measured by noop_rtt.py --- */

void bench_find_python(const struct bench_opts *o, char *buf, size_t len)
{
	if (o->python[0]) {
		snprintf(buf, len, "%s", o->python);
		return;
	}
	snprintf(buf, len, "%s/.venv/bin/python", BENCH_REPO_DIR);
	if (access(buf, X_OK) != 0)
		snprintf(buf, len, "python3");
}

/* The source tree's copy first (a build directory run), then the
 * installed one. */
static int find_script(char *buf, size_t len)
{
	static const char *const dirs[] = { BENCH_SCRIPT_DIR, BENCH_DATA_DIR };
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(buf, len, "%s/noop_rtt.py", dirs[i]);
		if (access(buf, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Runs argv with stdout captured into *ret_out (malloc'd, NUL-terminated);
 * returns the wait status or -errno. stderr stays ours. */
static int run_capture(char *const argv[], char **ret_out)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	pid_t pid = fork();
	if (pid < 0) {
		int r = negative_errno();
		close(pipefd[0]);
		close(pipefd[1]);
		return r;
	}
	if (pid == 0) {
		if (dup2(pipefd[1], 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);

	char *out = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *p = realloc(out, cap);
			if (!p)
				break;
			out = p;
		}
		ssize_t n = read(pipefd[0], out + len, cap - len - 1);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n > 0)
			len += (size_t)n;
	}
	close(pipefd[0]);
	if (out)
		out[len] = '\0';
	int status = 0;
	if (waitpid(pid, &status, 0) < 0) {
		free(out);
		return negative_errno();
	}
	*ret_out = out;
	return status;
}

/* Where the libclove this program runs with lives, for the Python SDK's
 * fast path (which loads it with ctypes through $LIBCLOVE). */
static void export_libclove(void)
{
	Dl_info info;
	if (!getenv("LIBCLOVE") && dladdr((void *)clove_version, &info) &&
	    info.dli_fname && info.dli_fname[0] == '/')
		setenv("LIBCLOVE", info.dli_fname, 0);
}

static int parse_python(const char *out, int status, const char *python,
			struct bench_result *r)
{
	json_error_t jerr;
	json_t *j = out ? json_loads(out, JSON_DECODE_ANY, &jerr) : NULL;
	int ret = 0;

	if (!json_is_object(j)) {
		ret = bench_fail(r, -EBADMSG,
				 "%s noop_rtt.py printed no JSON "
				 "(wait status 0x%x)",
				 python, (unsigned)status);
	} else if (json_is_string(json_object_get(j, "skipped"))) {
		snprintf(r->skipped, sizeof(r->skipped), "%s",
			 json_string_value(json_object_get(j, "skipped")));
	} else if (json_is_string(json_object_get(j, "error"))) {
		ret = bench_fail(
			r, -EIO, "noop_rtt.py: %s",
			json_string_value(json_object_get(j, "error")));
	} else {
		r->p50 = json_number_value(json_object_get(j, "p50_us"));
		r->p99 = json_number_value(json_object_get(j, "p99_us"));
		r->n = (uint64_t)json_integer_value(json_object_get(j, "n"));
		json_t *ver = json_object_get(j, "python_version");
		json_t *fast = json_object_get(j, "fast_path");
		snprintf(r->note, sizeof(r->note),
			 "clove_sdk CloveClient.echo(%u bytes) %s, timed with "
			 "time.perf_counter_ns; %.80s (Python %.20s)",
			 BENCH_PAYLOAD,
			 json_is_true(fast) ? "over the fast path (libclove "
					      "via ctypes)"
					    : "over the socket",
			 python,
			 json_is_string(ver) ? json_string_value(ver) : "?");
		if (r->n == 0)
			ret = bench_fail(r, -EBADMSG,
					 "noop_rtt.py reported no samples");
	}
	json_decref(j);
	return ret;
}

int micro_rtt_python(const struct bench_opts *o, const char *kernel_socket,
		     bool fast_path, struct bench_result *r)
{
	char python[PATH_MAX], script[PATH_MAX + 16], sdk[PATH_MAX];
	char iters[32], warmup[32], payload[32];

	bench_find_python(o, python, sizeof(python));
	if (find_script(script, sizeof(script)) < 0) {
		snprintf(r->skipped, sizeof(r->skipped),
			 "noop_rtt.py not found in %s or %s", BENCH_SCRIPT_DIR,
			 BENCH_DATA_DIR);
		return 0;
	}
	snprintf(sdk, sizeof(sdk), "%s/sdk/python/src", BENCH_REPO_DIR);
	snprintf(iters, sizeof(iters), "%u", o->iterations);
	snprintf(warmup, sizeof(warmup), "%u", BENCH_WARMUP);
	snprintf(payload, sizeof(payload), "%u", BENCH_PAYLOAD);
	char *const argv[] = { python,
			       script,
			       "--socket",
			       (char *)kernel_socket,
			       "--iterations",
			       iters,
			       "--warmup",
			       warmup,
			       "--payload",
			       payload,
			       "--sdk-path",
			       sdk,
			       fast_path ? "--fast-path" : "--socket-only",
			       NULL };
	if (fast_path)
		export_libclove();

	char *out = NULL;
	int status = run_capture(argv, &out);
	if (status < 0)
		return bench_fail(r, status, "cannot run %s: %s", python,
				  strerror(-status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !(out && *out)) {
		snprintf(r->skipped, sizeof(r->skipped),
			 "cannot execute %.200s", python);
		free(out);
		return 0;
	}
	int ret = parse_python(out, status, python, r);
	free(out);
	return ret;
}
