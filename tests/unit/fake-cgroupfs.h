/* SPDX-License-Identifier: MIT */
/*
 * A fake cgroupfs for the cgroup backends' unit tests: a temporary
 * directory tree with the control files a real cgroupfs would show, created
 * empty, so that after the backend has written a file its content is
 * exactly what was written. Unlike cgroupfs, nothing creates the files of a
 * new directory: tests create the directories the backend will use first
 * (it reuses an existing directory, as it does a leftover of its own).
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAKE_REL  512
#define FAKE_PATH 1024

static char fake_root[64];

static void fake_init(void)
{
	snprintf(fake_root, sizeof(fake_root), "/tmp/clove-fakecg-XXXXXX");
	if (!mkdtemp(fake_root))
		abort();
}

static const char *fake_path(const char *rel, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", fake_root, rel);
	return buf;
}

/* mkdir -p root/rel */
static void fake_dir(const char *rel)
{
	char p[FAKE_PATH];

	fake_path(rel, p, sizeof(p));
	for (char *s = p + strlen(fake_root) + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			abort();
		*s = c;
		if (!c)
			break;
	}
}

/* Creates root/dir/name holding text (the directory too). */
static void fake_file(const char *dir, const char *name, const char *text)
{
	char rel[FAKE_REL], p[FAKE_PATH];
	FILE *f;

	fake_dir(dir);
	snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	f = fopen(fake_path(rel, p, sizeof(p)), "we");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* Empty files, one per name, in root/dir. */
static void fake_files(const char *dir, const char *const *names)
{
	for (; *names; names++)
		fake_file(dir, *names, "");
}

/* The content of root/dir/name ("<missing>" when absent). */
static const char *fake_read(const char *dir, const char *name)
{
	static char buf[4096];
	char rel[FAKE_REL], p[FAKE_PATH];
	FILE *f;
	size_t n;

	snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	f = fopen(fake_path(rel, p, sizeof(p)), "re");
	if (!f)
		return "<missing>";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int fake_exists(const char *rel)
{
	char p[FAKE_PATH];

	return access(fake_path(rel, p, sizeof(p)), F_OK) == 0;
}

/* Removes the files of root/dir (not its subdirectories). */
static void fake_clear_files(const char *dir, const char *const *names)
{
	char rel[FAKE_REL], p[FAKE_PATH];

	for (; *names; names++) {
		snprintf(rel, sizeof(rel), "%s/%s", dir, *names);
		(void)unlink(fake_path(rel, p, sizeof(p)));
	}
}

static void fake_done(void)
{
	char cmd[128];

	if (!fake_root[0] || strncmp(fake_root, "/tmp/clove-fakecg-", 18) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", fake_root);
	fake_root[0] = '\0';
}
