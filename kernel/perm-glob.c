/* SPDX-License-Identifier: MIT */
/*
 * Policy path patterns: validation, matching with fnmatch(3), the literal
 * root a pattern lives under, the "covers" relation used to decide that a
 * child's rights never exceed its parent's, and lexical path
 * normalization. See perm-glob.h for the pattern language.
 */
#include "perm-glob.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

static bool has_wildcard(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	return false;
}

static bool ends_with_all(const char *pattern, size_t n)
{
	return n >= 3 && memcmp(pattern + n - 3, "/**", 3) == 0;
}

/* A '[' at comp[i] must be closed inside the component (fnmatch would
 * otherwise read it as a literal, and a '/' inside would break the
 * component-wise reasoning of perm_glob_covers). */
static bool bracket_closed(const char *comp, size_t n, size_t i)
{
	size_t j = i + 1;

	if (j < n && (comp[j] == '!' || comp[j] == '^'))
		j++;
	if (j < n && comp[j] == ']')
		j++;
	for (; j < n; j++)
		if (comp[j] == ']')
			return true;
	return false;
}

_printf_(3, 4) static int invalid(char *msg, size_t msglen, const char *fmt,
				  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int validate_component(const char *comp, size_t n, bool last,
			      const char *field, char *msg, size_t msglen)
{
	if (n == 0)
		return invalid(msg, msglen,
			       "%s: empty path component ('//' or a trailing "
			       "'/')",
			       field);
	if ((n == 1 && comp[0] == '.') ||
	    (n == 2 && comp[0] == '.' && comp[1] == '.'))
		return invalid(msg, msglen,
			       "%s: '.' and '..' components are not allowed",
			       field);
	if (n == 2 && comp[0] == '*' && comp[1] == '*') {
		if (!last)
			return invalid(msg, msglen,
				       "%s: '**' is only allowed as the last "
				       "component ('/dir/**')",
				       field);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (comp[i] == '*' && i + 1 < n && comp[i + 1] == '*')
			return invalid(msg, msglen,
				       "%s: '**' must be a whole component",
				       field);
		if (comp[i] == '[' && !bracket_closed(comp, n, i))
			return invalid(msg, msglen, "%s: unclosed '['", field);
	}
	return 0;
}

int perm_glob_validate(const char *pattern, const char *field, char *msg,
		       size_t msglen)
{
	size_t len = strlen(pattern);

	if (len == 0)
		return invalid(msg, msglen, "%s: pattern must not be empty",
			       field);
	if (len >= PERM_PATTERN_MAX)
		return invalid(msg, msglen, "%s: pattern longer than %d bytes",
			       field, PERM_PATTERN_MAX - 1);
	if (pattern[0] != '/')
		return invalid(msg, msglen,
			       "%s: pattern must be an absolute path, not "
			       "'%.100s'",
			       field, pattern);
	if (strchr(pattern, '\\'))
		return invalid(msg, msglen,
			       "%s: backslashes are not allowed in patterns",
			       field);
	if (len == 1)
		return 0;
	for (const char *c = pattern + 1;;) {
		const char *end = strchrnul(c, '/');
		int r = validate_component(c, (size_t)(end - c), !*end, field,
					   msg, msglen);
		if (r < 0)
			return r;
		if (!*end)
			return 0;
		c = end + 1;
	}
}

bool perm_glob_match(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);
	char q[PERM_PATTERN_MAX], buf[PATH_MAX];

	if (path[0] != '/')
		return false;
	if (!ends_with_all(pattern, n))
		return fnmatch(pattern, path, FNM_PATHNAME) == 0;
	if (n == 3)
		return true;
	if (n - 3 >= sizeof(q) || strlen(path) >= sizeof(buf))
		return false;
	memcpy(q, pattern, n - 3);
	q[n - 3] = '\0';
	if (fnmatch(q, path, FNM_PATHNAME) == 0)
		return true;
	/* The directory itself or any directory above path. */
	strcpy(buf, path);
	for (char *s = buf + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		int m = fnmatch(q, buf, FNM_PATHNAME);
		*s = '/';
		if (m == 0)
			return true;
	}
	return false;
}

int perm_glob_root(const char *pattern, char *buf, size_t len)
{
	/* End of the literal directory prefix: up to the last '/' before the
	 * first component with a wildcard, and never past the pattern's last
	 * component. */
	const char *last = strrchr(pattern, '/');
	const char *end = pattern;

	for (const char *c = pattern; c < last;) {
		const char *next = strchr(c + 1, '/');
		if (has_wildcard(c + 1, (size_t)(next - c - 1)))
			break;
		end = next;
		c = next;
	}
	size_t n = (size_t)(end - pattern);
	if (n == 0)
		n = 1; /* "/" */
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, pattern, n);
	buf[n] = '\0';
	return 0;
}

bool perm_glob_covers(const char *parent, const char *child)
{
	size_t n = strlen(parent);

	if (strcmp(parent, child) == 0)
		return true;
	if (!ends_with_all(parent, n))
		return false;
	if (n == 3)
		return child[0] == '/';
	n -= 3;
	return strncmp(child, parent, n) == 0 &&
	       (child[n] == '\0' || child[n] == '/');
}

/* Length of the leading run of literal components (with their '/'s). */
static size_t literal_prefix(const char *pattern, bool whole_literal)
{
	size_t end = 0;

	for (const char *c = pattern; *c;) {
		const char *next = strchrnul(c + 1, '/');
		if (!*next && !whole_literal)
			break;
		if (has_wildcard(c + 1, (size_t)(next - c - 1)))
			break;
		end = (size_t)(next - pattern);
		c = next;
	}
	return end;
}

int perm_glob_canonicalize(const char *pattern, bool whole_literal, char *buf,
			   size_t len)
{
	char lit[PATH_MAX], real[PATH_MAX];
	size_t n = literal_prefix(pattern, whole_literal);

	if (n >= sizeof(lit))
		return -ENAMETOOLONG;
	memcpy(lit, pattern, n);
	lit[n] = '\0';
	/* The longest prefix that exists; what does not exist yet cannot be
	 * a symlink yet, and is kept as written. */
	while (n > 0 && !realpath(lit, real)) {
		char *slash = strrchr(lit, '/');
		n = (size_t)(slash - lit);
		*slash = '\0';
	}
	const char *head = n > 0 ? real : "";
	/* realpath gives "/" for the root: do not double the slash. */
	if (strcmp(head, "/") == 0)
		head = "";
	int w = snprintf(buf, len, "%s%s", head, pattern + n);
	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	if (buf[0] == '\0') {
		if (len < 2)
			return -ENAMETOOLONG;
		strcpy(buf, "/");
	}
	return 0;
}

int perm_path_normalize(const char *base, const char *path, char *buf,
			size_t len)
{
	char joined[PATH_MAX * 2];
	size_t out = 0;
	int w;

	if (!path[0])
		return -EINVAL;
	if (path[0] == '/')
		w = snprintf(joined, sizeof(joined), "%s", path);
	else if (base)
		w = snprintf(joined, sizeof(joined), "%s/%s", base, path);
	else
		return -EINVAL;
	if (w < 0 || (size_t)w >= sizeof(joined) || len < 2)
		return -ENAMETOOLONG;

	for (const char *c = joined; *c;) {
		while (*c == '/')
			c++;
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if (n == 0 || (n == 1 && c[0] == '.')) {
			/* nothing */
		} else if (n == 2 && c[0] == '.' && c[1] == '.') {
			while (out > 0 && buf[--out] != '/')
				;
		} else {
			if (out + 1 + n + 1 > len)
				return -ENAMETOOLONG;
			buf[out] = '/';
			memcpy(buf + out + 1, c, n);
			out += 1 + n;
		}
		c = end;
	}
	if (out == 0)
		buf[out++] = '/';
	buf[out] = '\0';
	return 0;
}
