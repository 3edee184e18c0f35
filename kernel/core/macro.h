/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every Clove module uses: cleanup attributes for scope-bound
 * ownership (free, close, json_decref), ownership transfer, array sizes.
 * Modelled on systemd's and PipeWire's habits; header-only.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Closes an fd that is >= 0; fds start as -EBADF so "nothing" is obvious. */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Moves ownership out of a cleanup-managed variable. */
static inline int take_fd_impl(int *fd)
{
	int r = *fd;
	*fd = -EBADF;
	return r;
}
#define take_fd(fd) take_fd_impl(&(fd))

static inline void *take_ptr_impl(void **p)
{
	void *r = *p;
	*p = NULL;
	return r;
}
#define take_ptr(p) take_ptr_impl((void **)&(p))

/* Returns -errno of the last failed libc call, never 0. */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}
