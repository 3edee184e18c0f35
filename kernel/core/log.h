/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr for the binaries (cloved, clove, clove-bench). Library
 * code (proto, loop, shm, libclove) never logs: it returns -errno and the
 * caller logs once, with context.
 */
#pragma once

#include "macro.h"

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns the level or -EINVAL. */
int log_level_from_name(const char *name);
void log_msg(enum log_level level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                  \
	do {                                            \
		if (log_get_level() >= LOG_LVL_DEBUG)   \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)
