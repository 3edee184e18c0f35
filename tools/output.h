/* SPDX-License-Identifier: MIT */
/*
 * How the clove CLI prints: aligned text tables, human durations, signal
 * names and pretty JSON. Formatting helpers are pure (tested in
 * tests/unit/test-clove-args.c); the printers write to the FILE given.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A table of strings printed with each column padded to its widest cell. */
struct output_table;

/* Copies the ncols header strings. -EINVAL (ncols 0), -ENOMEM. */
int output_table_new(const char *const *headers, size_t ncols,
		     struct output_table **ret);
/* Copies one row of ncols strings (NULL prints as "-"). -ENOMEM. */
int output_table_add_row(struct output_table *t, const char *const *cells);
size_t output_table_rows(const struct output_table *t);
void output_table_print(const struct output_table *t, FILE *f);
/* NULL is a no-op. */
void output_table_free(struct output_table *t);

static inline void output_table_freep(struct output_table **t)
{
	output_table_free(*t);
}
#define _cleanup_table_ __attribute__((cleanup(output_table_freep)))

/*
 * Writes a duration in two units at most, truncated: "850ms", "42s",
 * "3m12s", "2h05m", "3d04h". Returns what snprintf() returns.
 */
int output_format_duration(uint64_t ms, char *buf, size_t size);

/* "SIGTERM" for 15; "SIG42" for a number without a name. */
int output_format_signal(int sig, char *buf, size_t size);

/* Pretty-prints a JSON value and a newline. -EIO when writing fails. */
int output_json(json_t *value, FILE *f);
