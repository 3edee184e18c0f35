/* SPDX-License-Identifier: MIT */
/*
 * Percentiles for clove-bench. Samples are kept whole and sorted (no
 * histograms, no averaging), and a percentile is the nearest-rank value of
 * the sorted samples, so p50 and p99 are always latencies that were really
 * observed. Means are deliberately absent: on a shared machine a single
 * descheduling blows them up.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p% of samples <= it. */
static size_t rank_index(size_t n, double p)
{
	double rank = ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > (double)n)
		rank = (double)n;
	return (size_t)rank - 1;
}

void stats_sort_doubles(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

double stats_percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return NAN;
	return sorted[rank_index(n, p)];
}

void stats_summary_ns(uint64_t *samples, size_t n, double *ret_p50_us,
		      double *ret_p99_us)
{
	qsort(samples, n, sizeof(*samples), cmp_u64);
	*ret_p50_us = (double)samples[rank_index(n, 50)] / 1000.0;
	*ret_p99_us = (double)samples[rank_index(n, 99)] / 1000.0;
}

uint64_t stats_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
