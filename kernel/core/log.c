/* SPDX-License-Identifier: MIT */
/*
 * stderr logger with levels and a monotonic-free wall-clock stamp. One
 * fprintf per message so lines from one process never interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_LVL_INFO;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_level_from_name(const char *name)
{
	for (unsigned i = 0; i < ELEMENTSOF(level_names); i++)
		if (name && strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > current_level)
		return;

	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], msg);
}
