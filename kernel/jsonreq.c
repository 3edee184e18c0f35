/* SPDX-License-Identifier: MIT */
/*
 * Request field validators. They exist so that every handler rejects bad
 * input the same way: -EINVAL and a message that names the field and says
 * what was expected, never a crash or a silently ignored value.
 */
#include "jsonreq.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"

int jr_error(struct jr_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}


/* Returns the field, NULL when absent or null. */
static json_t *field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_null(v) ? NULL : v;
}

static int absent(const char *key, bool required, struct jr_err *err)
{
	return required ? jr_error(err, "missing field '%s'", key) : 0;
}

int jr_string(json_t *o, const char *key, bool required, const char **ret,
	      struct jr_err *err)
{
	json_t *v = field(o, key);
	if (!v)
		return absent(key, required, err);
	if (!json_is_string(v))
		return jr_error(err, "field '%s' must be a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return jr_error(err, "field '%s' must not contain NUL bytes", key);
	*ret = json_string_value(v);
	return 0;
}

int jr_int(json_t *o, const char *key, bool required, int64_t min, int64_t max,
	   int64_t *ret, struct jr_err *err)
{
	json_t *v = field(o, key);
	if (!v)
		return absent(key, required, err);
	if (!json_is_integer(v))
		return jr_error(err, "field '%s' must be an integer", key);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return jr_error(err, "field '%s' must be between %lld and %lld", key,
			    (long long)min, (long long)max);
	*ret = i;
	return 0;
}

int jr_number(json_t *o, const char *key, bool required, double min,
	      double max, double *ret, struct jr_err *err)
{
	json_t *v = field(o, key);
	if (!v)
		return absent(key, required, err);
	if (!json_is_number(v))
		return jr_error(err, "field '%s' must be a number", key);
	double d = json_number_value(v);
	if (!isfinite(d) || d < min || d > max)
		return jr_error(err, "field '%s' must be between %g and %g", key, min,
			    max);
	*ret = d;
	return 0;
}

int jr_bool(json_t *o, const char *key, bool *ret, struct jr_err *err)
{
	json_t *v = field(o, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return jr_error(err, "field '%s' must be true or false", key);
	*ret = json_is_true(v);
	return 0;
}

int jr_enum(json_t *o, const char *key, const char *const *names, int *ret,
	    struct jr_err *err)
{
	const char *s = NULL;
	int r = jr_string(o, key, false, &s, err);
	if (r < 0 || !s)
		return r;
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0) {
			*ret = i;
			return 0;
		}

	char choices[160] = "";
	for (int i = 0; names[i]; i++) {
		size_t used = strlen(choices);
		snprintf(choices + used, sizeof(choices) - used, "%s%s",
			 i ? ", " : "", names[i]);
	}
	return jr_error(err, "field '%s' must be one of: %s", key, choices);
}

static bool is_clean_string(json_t *v)
{
	return json_is_string(v) &&
	       strlen(json_string_value(v)) == json_string_length(v);
}

int jr_string_array(json_t *o, const char *key, bool required, size_t max,
		    json_t **ret, struct jr_err *err)
{
	json_t *v = field(o, key);
	if (!v)
		return absent(key, required, err);
	if (!json_is_array(v))
		return jr_error(err, "field '%s' must be an array of strings", key);
	if (json_array_size(v) > max)
		return jr_error(err, "field '%s' has more than %zu items", key, max);
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item) {
		if (!is_clean_string(item))
			return jr_error(err, "field '%s' item %zu must be a string "
				    "without NUL bytes", key, i);
	}
	*ret = v;
	return 0;
}

int jr_string_map(json_t *o, const char *key, size_t max, json_t **ret,
		  struct jr_err *err)
{
	json_t *v = field(o, key);
	if (!v)
		return 0;
	if (!json_is_object(v))
		return jr_error(err, "field '%s' must be an object of strings", key);
	if (json_object_size(v) > max)
		return jr_error(err, "field '%s' has more than %zu entries", key, max);
	const char *k;
	json_t *item;
	json_object_foreach(v, k, item) {
		if (!is_clean_string(item))
			return jr_error(err, "field '%s.%s' must be a string without "
				    "NUL bytes", key, k);
	}
	*ret = v;
	return 0;
}

int jr_object(json_t *o, const char *key, json_t **ret, struct jr_err *err)
{
	json_t *v = field(o, key);
	if (!v)
		return 0;
	if (!json_is_object(v))
		return jr_error(err, "field '%s' must be an object", key);
	*ret = v;
	return 0;
}

int jr_id_or_name(json_t *o, const char *id_key, const char *name_key,
		  int64_t *ret_id, const char **ret_name, struct jr_err *err)
{
	int64_t id = 0;
	const char *name = NULL;
	int r;

	if ((r = jr_int(o, id_key, false, 1, UINT32_MAX, &id, err)) < 0 ||
	    (r = jr_string(o, name_key, false, &name, err)) < 0)
		return r;
	if (!id == !name)
		return jr_error(err, "give exactly one of '%s' or '%s'", id_key,
			    name_key);
	*ret_id = id;
	*ret_name = name;
	return 0;
}
