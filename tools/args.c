/* SPDX-License-Identifier: MIT */
/*
 * Parsers for the clove CLI's arguments. strtoull() and strtod() accept
 * signs, spaces and hex, so numbers are checked character by character
 * first: "-1" must not become a huge count, nor " 5" a valid id.
 */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int args_parse_uint(const char *arg, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!arg || !all_digits(arg))
		return -EINVAL;
	for (const char *p = arg; *p; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (d > max || v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int args_parse_selector(const char *arg, struct args_selector *ret)
{
	if (!arg || !*arg)
		return -EINVAL;
	if (all_digits(arg)) {
		uint64_t id;
		int r = args_parse_uint(arg, UINT32_MAX, &id);
		if (r < 0)
			return r;
		*ret = (struct args_selector){ .by_id = true,
					       .id = (uint32_t)id };
		return 0;
	}
	*ret = (struct args_selector){ .by_id = false, .name = arg };
	return 0;
}

int args_selector_to_json(const struct args_selector *sel, json_t *obj)
{
	json_t *v = sel->by_id ? json_integer(sel->id) : json_string(sel->name);

	if (!v || json_object_set_new(obj, sel->by_id ? "id" : "name", v) < 0)
		return -ENOMEM;
	return 0;
}

static const struct {
	const char *suffix;
	double ms;
} duration_units[] = {
	{ "", 1000.0 },	  { "s", 1000.0 },    { "ms", 1.0 },
	{ "m", 60000.0 }, { "h", 3600000.0 },
};

int args_parse_duration(const char *arg, uint64_t max_ms, uint64_t *ret_ms)
{
	size_t len, digits = 0, dots = 0;

	if (!arg)
		return -EINVAL;
	/* The number: digits with at most one dot, and at least one digit. */
	for (len = 0; (arg[len] >= '0' && arg[len] <= '9') || arg[len] == '.';
	     len++) {
		if (arg[len] == '.')
			dots++;
		else
			digits++;
	}
	if (digits == 0 || dots > 1)
		return -EINVAL;

	for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
		if (strcmp(arg + len, duration_units[i].suffix) != 0)
			continue;
		double v = strtod(arg, NULL) * duration_units[i].ms;
		if (!isfinite(v) || v > (double)max_ms + 0.5)
			return -ERANGE;
		uint64_t ms = (uint64_t)(v + 0.5);
		*ret_ms = MIN(ms, max_ms);
		return 0;
	}
	return -EINVAL;
}

int args_parse_size(const char *arg, uint64_t max, uint64_t *ret)
{
	static const char units[] = "KMGT";
	size_t len = 0;
	unsigned shift = 0;
	uint64_t v;
	char num[24];
	const char *u;
	int r;

	if (!arg)
		return -EINVAL;
	while (arg[len] >= '0' && arg[len] <= '9')
		len++;
	if (len == 0 || len >= sizeof(num))
		return len ? -ERANGE : -EINVAL;
	memcpy(num, arg, len);
	num[len] = '\0';
	u = arg + len;
	if (*u) {
		const char *p = strchr(units, *u & ~0x20);

		if (!p || !*p)
			return -EINVAL;
		shift = 10 * (unsigned)(p - units + 1);
		u++;
		if (strcmp(u, "") != 0 && strcmp(u, "B") != 0 &&
		    strcmp(u, "iB") != 0 && strcmp(u, "b") != 0 &&
		    strcmp(u, "ib") != 0)
			return -EINVAL;
	}
	r = args_parse_uint(num, max >> shift, &v);
	if (r < 0)
		return r;
	*ret = v << shift;
	return 0;
}

int args_parse_cpus(const char *arg, uint64_t period_us, unsigned max_cpus,
		    uint64_t *ret_quota_us)
{
	size_t len, digits = 0, dots = 0;
	double cpus;

	if (!arg)
		return -EINVAL;
	for (len = 0; (arg[len] >= '0' && arg[len] <= '9') || arg[len] == '.';
	     len++) {
		if (arg[len] == '.')
			dots++;
		else
			digits++;
	}
	if (digits == 0 || dots > 1 || arg[len] != '\0')
		return -EINVAL;
	cpus = strtod(arg, NULL);
	if (!isfinite(cpus) || cpus > (double)max_cpus)
		return -ERANGE;
	double quota = cpus * (double)period_us + 0.5;
	if (quota < 1.0)
		return -EINVAL;
	*ret_quota_us = (uint64_t)quota;
	return 0;
}

static bool env_name_char(char ch, bool first)
{
	if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_')
		return true;
	return !first && ch >= '0' && ch <= '9';
}

int args_parse_env(const char *arg, size_t *ret_key_len)
{
	size_t i;

	if (!arg)
		return -EINVAL;
	for (i = 0; arg[i] && arg[i] != '='; i++)
		if (!env_name_char(arg[i], i == 0))
			return -EINVAL;
	if (i == 0 || arg[i] != '=')
		return -EINVAL;
	*ret_key_len = i;
	return 0;
}

int args_env_to_json(const char *arg, json_t *env)
{
	size_t key_len;

	int r = args_parse_env(arg, &key_len);
	if (r < 0)
		return r;
	_cleanup_free_ char *key = strndup(arg, key_len);
	if (!key)
		return -ENOMEM;
	/* json_string() refuses invalid UTF-8, the kernel would too. */
	json_t *value = json_string(arg + key_len + 1);
	if (!value)
		return -EINVAL;
	if (json_object_set_new(env, key, value) < 0)
		return -ENOMEM;
	return 0;
}

int args_check_restart_policy(const char *policy)
{
	static const char *const policies[] = { "never", "always",
						"on-failure" };

	for (size_t i = 0; policy && i < ELEMENTSOF(policies); i++)
		if (strcmp(policy, policies[i]) == 0)
			return 0;
	return -EINVAL;
}

int args_check_agent_name(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len < 1 || len > 64)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!env_name_char(ch, false) && ch != '.' && ch != '-')
			return -EINVAL;
	}
	return 0;
}
