/* SPDX-License-Identifier: MIT */
/*
 * tail(1)'s two halves for log files: a backwards scan in fixed windows (a
 * log may be large; only its end is read) and an incremental copy with
 * pread(), so the offset is ours and not the fd's.
 */
#include "tail.h"

#include <errno.h>
#include <unistd.h>

#include "macro.h"

#define TAIL_WINDOW (64u * 1024u)

bool tail_scan(const char *buf, size_t len, uint64_t *need, size_t *ret_pos)
{
	for (size_t i = len; i > 0 && *need > 0; i--) {
		if (buf[i - 1] != '\n')
			continue;
		if (--*need == 0) {
			*ret_pos = i;
			return true;
		}
	}
	return false;
}

static int pread_full(int fd, char *buf, size_t len, uint64_t offset)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			return -EIO; /* shrank under us */
		buf += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

int tail_find_start(int fd, uint64_t size, uint64_t lines, uint64_t *ret)
{
	char buf[TAIL_WINDOW];
	uint64_t end = size, need = lines;

	if (lines == 0 || size == 0) {
		*ret = size;
		return 0;
	}
	/* A final newline ends the last line; it does not start a new one. */
	char last;
	int r = pread_full(fd, &last, 1, size - 1);
	if (r < 0)
		return r;
	if (last == '\n')
		end--;

	while (end > 0) {
		size_t len = (size_t)MIN(end, (uint64_t)sizeof(buf));
		size_t pos;
		r = pread_full(fd, buf, len, end - len);
		if (r < 0)
			return r;
		if (tail_scan(buf, len, &need, &pos)) {
			*ret = end - len + pos;
			return 0;
		}
		end -= len;
	}
	*ret = 0;
	return 0;
}

int tail_copy(int fd, uint64_t *offset, FILE *out)
{
	char buf[TAIL_WINDOW];

	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)*offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
			return -EIO;
		*offset += (uint64_t)n;
	}
	return fflush(out) == EOF ? -EIO : 0;
}
