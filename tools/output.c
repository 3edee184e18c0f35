/* SPDX-License-Identifier: MIT */
/*
 * Output helpers of the clove CLI. Tables keep their cells until printed
 * because a column's width is known only once every row is in; the last
 * column is not padded, so lines carry no trailing spaces.
 */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "macro.h"

struct output_table {
	size_t ncols;
	size_t nrows; /* including the header row */
	size_t cap;   /* rows allocated */
	char **cells; /* row-major, nrows * ncols */
};

static int table_append(struct output_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **n = reallocarray(t->cells, cap * t->ncols, sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->cells = n;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "-");
		if (!row[i]) {
			while (i > 0)
				free(row[--i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

int output_table_new(const char *const *headers, size_t ncols,
		     struct output_table **ret)
{
	if (ncols == 0)
		return -EINVAL;
	struct output_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ncols = ncols;
	int r = table_append(t, headers);
	if (r < 0) {
		output_table_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int output_table_add_row(struct output_table *t, const char *const *cells)
{
	return table_append(t, cells);
}

size_t output_table_rows(const struct output_table *t)
{
	return t->nrows > 0 ? t->nrows - 1 : 0;
}

void output_table_print(const struct output_table *t, FILE *f)
{
	_cleanup_free_ size_t *width = calloc(t->ncols, sizeof(*width));
	if (!width)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			width[c] = MAX(width[c],
				       strlen(t->cells[r * t->ncols + c]));

	for (size_t r = 0; r < t->nrows; r++) {
		char *const *row = t->cells + r * t->ncols;
		for (size_t c = 0; c + 1 < t->ncols; c++)
			fprintf(f, "%-*s  ", (int)width[c], row[c]);
		fprintf(f, "%s\n", row[t->ncols - 1]);
	}
}

void output_table_free(struct output_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int output_format_duration(uint64_t ms, char *buf, size_t size)
{
	uint64_t s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;

	if (s == 0)
		return snprintf(buf, size, "%" PRIu64 "ms", ms);
	if (m == 0)
		return snprintf(buf, size, "%" PRIu64 "s", s);
	if (h == 0)
		return snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", m,
				s % 60);
	if (d == 0)
		return snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", h,
				m % 60);
	return snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", d, h % 24);
}

int output_format_signal(int sig, char *buf, size_t size)
{
	const char *name = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (name)
		return snprintf(buf, size, "SIG%s", name);
	return snprintf(buf, size, "SIG%d", sig);
}

int output_json(json_t *value, FILE *f)
{
	if (json_dumpf(value, f, JSON_INDENT(2) | JSON_ENCODE_ANY) < 0 ||
	    fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}
