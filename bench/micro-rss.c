/* SPDX-License-Identifier: MIT */
/*
 * Kernel memory per idle connection: VmRSS of cloved before and after
 * BENCH_RSS_CONNS operator connections, each of which has done one NOOP (so
 * its per-connection buffers and request path have been set up, as for a
 * real client that then sits idle). The "before" figure is the baseline;
 * the target is an absolute ceiling on "after".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "clove.h"
#include "macro.h"

#define RSS_TARGET_KB (64u * 1024u)
/* Our own fds on top of the connections (stdio, the other benchmarks). */
#define RSS_FD_SLACK 64u

int micro_rss_read(pid_t pid, const char *field, uint64_t *ret_kb)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);

	FILE *f = fopen(path, "re");
	if (!f)
		return negative_errno();
	int r = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		if (strncmp(line, field, flen) == 0 && line[flen] == ':' &&
		    sscanf(line + flen + 1, "%llu", &kb) == 1) {
			*ret_kb = kb;
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static int raise_nofile(rlim_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return negative_errno();
	if (rl.rlim_cur >= want)
		return 0;
	/* Raising the hard limit needs CAP_SYS_RESOURCE; try, then fall back
	 * to whatever the hard limit allows. */
	if (rl.rlim_max < want) {
		struct rlimit both = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &both) == 0)
			return 0;
		return -EMFILE;
	}
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? negative_errno() : 0;
}

/* Connects n clients and does one NOOP on each. */
static int open_idle(const char *socket, struct clove_client **conns,
		     unsigned n, struct bench_result *r)
{
	static const char payload[BENCH_PAYLOAD + 1] = "clove-bench-idle";

	for (unsigned i = 0; i < n; i++) {
		int e = clove_connect(socket, &conns[i]);
		if (e < 0)
			return bench_fail(r, e, "connection %u of %u: %s",
					  i + 1, n, clove_strerror(e));
		e = clove_call(conns[i], CLOVE_OP_NOOP, payload, BENCH_PAYLOAD,
			       NULL, NULL);
		if (e < 0)
			return bench_fail(r, e, "NOOP on connection %u: %s",
					  i + 1, clove_strerror(e));
	}
	return 0;
}

int micro_rss_run(const struct bench_opts *o, const char *kernel_socket,
		  pid_t kernel_pid, struct bench_result *r)
{
	const unsigned n = BENCH_RSS_CONNS;
	uint64_t before = 0, after = 0, hwm = 0;
	int ret;

	ret = raise_nofile(n + RSS_FD_SLACK);
	if (ret < 0)
		return bench_fail(r, ret,
				  "cannot raise RLIMIT_NOFILE to %u: %s",
				  n + RSS_FD_SLACK, strerror(-ret));
	ret = micro_rss_read(kernel_pid, "VmRSS", &before);
	if (ret < 0)
		return bench_fail(r, ret, "read /proc/%d/status: %s",
				  (int)kernel_pid, strerror(-ret));

	_cleanup_free_ struct clove_client **conns = calloc(n, sizeof(*conns));
	if (!conns)
		return bench_fail(r, -ENOMEM, "out of memory");
	ret = open_idle(kernel_socket, conns, n, r);
	if (ret >= 0)
		ret = micro_rss_read(kernel_pid, "VmRSS", &after);
	if (ret >= 0)
		ret = micro_rss_read(kernel_pid, "VmHWM", &hwm);
	for (unsigned i = 0; i < n; i++)
		clove_close(conns[i]);
	if (ret < 0) {
		if (!r->error[0])
			bench_fail(r, ret, "read /proc/%d/status: %s",
				   (int)kernel_pid, strerror(-ret));
		return ret;
	}

	r->p50 = r->p99 = (double)after;
	r->n = 1;
	r->baseline = (double)before;
	snprintf(r->target, sizeof(r->target),
		 "p50 <= %u kB (64 MiB) with %u idle connections",
		 RSS_TARGET_KB, n);
	r->extra = json_pack("{s:i, s:f, s:I, s:b}", "connections", (int)n,
			     "per_connection_kb",
			     ((double)after - (double)before) / n, "vm_hwm_kb",
			     (json_int_t)hwm, "target_met",
			     after <= RSS_TARGET_KB);
	snprintf(r->note, sizeof(r->note),
		 "VmRSS of cloved after %u connections with one NOOP each; "
		 "baseline = VmRSS of the same cloved just before",
		 n);
	(void)o;
	return 0;
}
