/* SPDX-License-Identifier: MIT */
/*
 * libclove's names for numbers: error texts, the errno behind a kernel
 * error reply's "code", opcode names and the library version. glibc's
 * strerrordesc_np()/strerrorname_np() return static strings, which keeps
 * these thread-safe (strerror() may format into a shared buffer).
 */
#include "clove.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "clove-config.h"
#include "proto.h"

/* Upper bound of errno values glibc names; scanning it is cheap and keeps
 * the kernel's codes and ours in one table: libc's. */
#define NAMES_MAX_ERRNO 4096

const char *clove_strerror(int err)
{
	if (err == 0)
		return "Success";
	if (err == INT_MIN)
		return "Unknown error";
	const char *s = strerrordesc_np(err < 0 ? -err : err);
	return s ? s : "Unknown error";
}

int clove_errno_from_name(const char *code)
{
	if (!code || code[0] != 'E')
		return 0;
	for (int e = 1; e < NAMES_MAX_ERRNO; e++) {
		const char *name = strerrorname_np(e);
		if (name && strcmp(name, code) == 0)
			return -e;
	}
	return 0;
}

const char *clove_opcode_name(uint8_t opcode)
{
	return proto_opcode_name(opcode);
}

const char *clove_version(void)
{
	return CLOVE_VERSION;
}
