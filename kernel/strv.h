/* SPDX-License-Identifier: MIT */
/*
 * NULL-terminated string vectors (argv, envp, header lines) that own their
 * strings and the array: one way to free them, for cleanup attributes too.
 */
#pragma once

#include <stdlib.h>

/* Frees each string and the array; NULL is fine. */
static inline void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
