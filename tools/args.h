/* SPDX-License-Identifier: MIT */
/*
 * The clove CLI's argument parsers: pure functions (no I/O, no globals) that
 * turn command-line strings into request fields, so they are unit-tested on
 * their own (tests/unit/test-clove-args.c). Each returns 0 or -errno and
 * leaves its out-parameters untouched on failure.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An agent named on the command line: by id when all digits, else by name. */
struct args_selector {
	bool by_id;
	uint32_t id;
	const char *name; /* points into the parsed string */
};

/*
 * Parses NAME|ID. All digits is an id (-ERANGE above UINT32_MAX); anything
 * else is a name. Empty: -EINVAL.
 */
int args_parse_selector(const char *arg, struct args_selector *ret);

/* Adds {"id": n} or {"name": "..."} to obj. -ENOMEM. */
int args_selector_to_json(const struct args_selector *sel, json_t *obj);

/*
 * Parses a decimal unsigned integer, digits only (no sign, no spaces), at
 * most max. -EINVAL (not a number), -ERANGE (above max).
 */
int args_parse_uint(const char *arg, uint64_t max, uint64_t *ret);

/*
 * Parses a duration: a non-negative decimal number with an optional unit
 * "ms", "s" (the default), "m" or "h", e.g. "5", "0.5", "250ms", "2m".
 * *ret_ms is in milliseconds, rounded to the nearest. -EINVAL, -ERANGE
 * (above max_ms).
 */
int args_parse_duration(const char *arg, uint64_t max_ms, uint64_t *ret_ms);

/*
 * Parses a size in bytes for --memory: digits with an optional binary
 * suffix K, M, G or T (any case, optionally followed by "B" or "iB"), e.g.
 * "268435456", "256M", "512k", "1GiB". -EINVAL, -ERANGE (above max).
 */
int args_parse_size(const char *arg, uint64_t max, uint64_t *ret);

/*
 * Parses --cpus, a share of CPUs ("0.5" = half of one CPU, "2" = two),
 * into a CFS quota for period_us: cpus × period_us, rounded. -EINVAL (not a
 * positive decimal number, or a quota under 1 µs), -ERANGE (above
 * max_cpus).
 */
int args_parse_cpus(const char *arg, uint64_t period_us, unsigned max_cpus,
		    uint64_t *ret_quota_us);

/*
 * Splits KEY=VALUE for --env: KEY must be a portable environment variable
 * name ([A-Za-z_][A-Za-z0-9_]*); VALUE may be empty. *ret_key_len is the
 * length of KEY; VALUE starts at arg + *ret_key_len + 1. -EINVAL.
 */
int args_parse_env(const char *arg, size_t *ret_key_len);

/* Sets KEY to VALUE in the JSON object env. -EINVAL, -ENOMEM. */
int args_env_to_json(const char *arg, json_t *env);

/* 0 when policy is "never", "always" or "on-failure", else -EINVAL. */
int args_check_restart_policy(const char *policy);

/* 0 when name is 1-64 characters of [A-Za-z0-9._-], else -EINVAL. */
int args_check_agent_name(const char *name);
