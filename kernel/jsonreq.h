/* SPDX-License-Identifier: MIT */
/*
 * Validation of request fields. Each getter leaves *ret untouched when the
 * field is absent and not required (so the caller presets the default), and
 * returns -EINVAL with a message naming the field in err otherwise.
 * JSON null counts as absent.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct jr_err {
	char msg[256];
};

/* Formats a message into err; returns -EINVAL (for "return jr_error(...)"). */
int jr_error(struct jr_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int jr_string(json_t *o, const char *key, bool required, const char **ret,
	      struct jr_err *err);
int jr_int(json_t *o, const char *key, bool required, int64_t min, int64_t max,
	   int64_t *ret, struct jr_err *err);
/* Accepts integers and reals. */
int jr_number(json_t *o, const char *key, bool required, double min,
	      double max, double *ret, struct jr_err *err);
int jr_bool(json_t *o, const char *key, bool *ret, struct jr_err *err);
/* One of names[] (NULL-terminated); *ret = its index. */
int jr_enum(json_t *o, const char *key, const char *const *names, int *ret,
	    struct jr_err *err);
/* An array of at most max strings, each without NUL bytes. *ret is the
 * array (borrowed from o), or untouched when absent. */
int jr_string_array(json_t *o, const char *key, bool required, size_t max,
		    json_t **ret, struct jr_err *err);
/* An object of at most max string values. */
int jr_string_map(json_t *o, const char *key, size_t max, json_t **ret,
		  struct jr_err *err);
/* An object field (any content). */
int jr_object(json_t *o, const char *key, json_t **ret, struct jr_err *err);

/* A selector of exactly one of id_key (an id 1..UINT32_MAX) and name_key (a
 * string): KILL's {id}|{name}, SEND's {to}|{to_name}. Sets *ret_id (0 when
 * the name is given) and *ret_name (NULL when the id is given). */
int jr_id_or_name(json_t *o, const char *id_key, const char *name_key,
		  int64_t *ret_id, const char **ret_name, struct jr_err *err);
