/* SPDX-License-Identifier: MIT */
/*
 * Reading the end of a log file for `clove logs`: where the last N lines
 * start, and copying what was appended since an offset. The line scan is a
 * pure function over a buffer, tested in tests/unit/test-clove-args.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Scans buf backwards (buf is a window of the file that ends where the
 * previous window began) for newlines. *need counts the newlines still to
 * find and is decremented for each; when it reaches 0, *ret_pos is the index
 * just past that newline and true is returned. Otherwise false (scan the
 * window before this one next).
 */
bool tail_scan(const char *buf, size_t len, uint64_t *need, size_t *ret_pos);

/*
 * Finds the offset where the last `lines` lines of the size bytes of fd
 * start (a final line without a newline counts). 0 lines: size.
 * Returns 0 or -errno.
 */
int tail_find_start(int fd, uint64_t size, uint64_t lines, uint64_t *ret);

/*
 * Copies fd's bytes from *offset to end of file into out and advances
 * *offset. Returns 0 or -errno (-EIO when writing out fails).
 */
int tail_copy(int fd, uint64_t *offset, FILE *out);
