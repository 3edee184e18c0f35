/* SPDX-License-Identifier: MIT */
/*
 * Permission policies and their patterns: the pattern language (validation,
 * matching, roots, "covers"), lexical normalization, the five levels and
 * their order, parsing from JSON with overrides and exact errors, the JSON
 * round trip, and the "never exceeds" rules of perm_policy_within() and
 * perm_policy_inherit().
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "perm-glob.h"
#include "perm-policy.h"

static struct perm_policy *parse_ok(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
	struct perm_policy *p = NULL;
	struct perm_why why = { "" };

	assert_non_null(v);
	int r = perm_policy_from_json(v, &p, &why);
	if (r < 0)
		fail_msg("%s: %s", text, why.msg);
	json_decref(v);
	return p;
}

/* Parsing text fails with -EINVAL and a message containing needle. */
static void parse_fails(const char *text, const char *needle)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	struct perm_policy *p = NULL;
	struct perm_why why = { "" };

	assert_non_null(v);
	assert_int_equal(perm_policy_from_json(v, &p, &why), -EINVAL);
	assert_null(p);
	if (!strstr(why.msg, needle))
		fail_msg("%s: message '%s' lacks '%s'", text, why.msg, needle);
	json_decref(v);
}

static struct perm_policy *level(enum perm_level l)
{
	struct perm_policy *p = NULL;

	assert_int_equal(perm_policy_new_level(l, &p), 0);
	return p;
}

static void glob_validate(void **state)
{
	static const char *const good[] = {
		"/",	     "/**",	"/a",	       "/a/b/**", "/a/*.txt",
		"/a/[xy]/c", "/a/[]x]", "/a/[!a]b/**", "/a/?",
	};
	static const struct {
		const char *pattern, *needle;
	} bad[] = {
		{ "", "empty" },
		{ "a/b", "absolute" },
		{ "/a//b", "empty path component" },
		{ "/a/", "empty path component" },
		{ "/a/../b", "'..'" },
		{ "/a/./b", "'.'" },
		{ "/a/**/b", "last component" },
		{ "/a/x**", "whole component" },
		{ "/a/[bc", "unclosed" },
		{ "/a/[b/c]", "unclosed" },
		{ "/a\\b", "backslash" },
	};
	char msg[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (perm_glob_validate(good[i], "f", msg, sizeof(msg)) != 0)
			fail_msg("%s refused: %s", good[i], msg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(perm_glob_validate(bad[i].pattern, "field 'x'",
						    msg, sizeof(msg)),
				 -EINVAL);
		if (!strstr(msg, bad[i].needle) || !strstr(msg, "field 'x'"))
			fail_msg("%s: '%s' lacks '%s'", bad[i].pattern, msg,
				 bad[i].needle);
	}
}

static void glob_match_and_root(void **state)
{
	char root[PATH_MAX];

	assert_true(perm_glob_match("/**", "/"));
	assert_true(perm_glob_match("/**", "/etc/shadow"));
	assert_true(perm_glob_match("/srv/data/**", "/srv/data"));
	assert_true(perm_glob_match("/srv/data/**", "/srv/data/a/b/c"));
	assert_false(perm_glob_match("/srv/data/**", "/srv/database"));
	assert_false(perm_glob_match("/srv/data/**", "/srv"));
	assert_true(perm_glob_match("/srv/*/logs/**", "/srv/a/logs/x"));
	assert_false(perm_glob_match("/srv/*/logs/**", "/srv/a/b/logs/x"));
	assert_true(perm_glob_match("/tmp/*.txt", "/tmp/a.txt"));
	assert_false(perm_glob_match("/tmp/*.txt", "/tmp/d/a.txt"));
	assert_false(perm_glob_match("/tmp/*", "tmp/a"));
	assert_true(perm_glob_match("/etc/shadow", "/etc/shadow"));
	assert_false(perm_glob_match("/etc/shadow", "/etc/shadow-"));

	assert_int_equal(perm_glob_root("/a/b/**", root, sizeof(root)), 0);
	assert_string_equal(root, "/a/b");
	assert_int_equal(perm_glob_root("/a/b", root, sizeof(root)), 0);
	assert_string_equal(root, "/a");
	assert_int_equal(perm_glob_root("/a/[xy]/c/**", root, sizeof(root)), 0);
	assert_string_equal(root, "/a");
	assert_int_equal(perm_glob_root("/**", root, sizeof(root)), 0);
	assert_string_equal(root, "/");
	assert_int_equal(perm_glob_root("/*.txt", root, sizeof(root)), 0);
	assert_string_equal(root, "/");
	assert_int_equal(perm_glob_root("/a/b", root, 2), -ENAMETOOLONG);
}

static void glob_covers(void **state)
{
	assert_true(perm_glob_covers("/**", "/anything/**"));
	assert_true(perm_glob_covers("/a/**", "/a/**"));
	assert_true(perm_glob_covers("/a/**", "/a"));
	assert_true(perm_glob_covers("/a/**", "/a/b/**"));
	assert_true(perm_glob_covers("/a/**", "/a/*.txt"));
	assert_true(perm_glob_covers("/a/*/c/**", "/a/*/c/d/**"));
	assert_false(perm_glob_covers("/a/**", "/ab/**"));
	assert_false(perm_glob_covers("/a/**", "/**"));
	assert_false(perm_glob_covers("/a/*", "/a/b"));
	assert_false(perm_glob_covers("/a/b", "/a/*"));
	assert_false(perm_glob_covers("/a/*.txt", "/a/**"));
	assert_true(perm_glob_covers("/a/*.txt", "/a/*.txt"));
}

static void path_normalize(void **state)
{
	char buf[PATH_MAX];

	assert_int_equal(
		perm_path_normalize(NULL, "/a/./b//c/", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a/b/c");
	assert_int_equal(perm_path_normalize(NULL, "/a/b/../../etc/shadow", buf,
					     sizeof(buf)),
			 0);
	assert_string_equal(buf, "/etc/shadow");
	assert_int_equal(
		perm_path_normalize(NULL, "/../../..", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/");
	assert_int_equal(
		perm_path_normalize("/work/7", "x/../y", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/work/7/y");
	assert_int_equal(perm_path_normalize("/work/7", "../../etc/passwd", buf,
					     sizeof(buf)),
			 0);
	assert_string_equal(buf, "/etc/passwd");
	assert_int_equal(perm_path_normalize(NULL, "rel", buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(perm_path_normalize(NULL, "", buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(perm_path_normalize(NULL, "/abcdef", buf, 4),
			 -ENAMETOOLONG);
}

static void glob_canonicalize(void **state)
{
	char dir[] = "/tmp/clove-perm-XXXXXX", link[PATH_MAX], real[PATH_MAX],
	     pat[PATH_MAX], buf[PATH_MAX];

	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(real, sizeof(real), "%s/real", dir);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);

	snprintf(pat, sizeof(pat), "%s/link/**", dir);
	assert_int_equal(perm_glob_canonicalize(pat, false, buf, sizeof(buf)),
			 0);
	char want[PATH_MAX * 2], rdir[PATH_MAX];
	assert_non_null(realpath(dir, rdir));
	snprintf(want, sizeof(want), "%s/real/**", rdir);
	assert_string_equal(buf, want);
	/* Not existing yet: kept below the longest existing prefix. */
	snprintf(pat, sizeof(pat), "%s/link/new/*.txt", dir);
	assert_int_equal(perm_glob_canonicalize(pat, false, buf, sizeof(buf)),
			 0);
	snprintf(want, sizeof(want), "%s/real/new/*.txt", rdir);
	assert_string_equal(buf, want);
	/* Programs: the whole literal path. */
	char sh[PATH_MAX];
	assert_non_null(realpath("/bin/sh", sh));
	assert_int_equal(
		perm_glob_canonicalize("/bin/sh", true, buf, sizeof(buf)), 0);
	assert_string_equal(buf, sh);
	assert_int_equal(perm_glob_canonicalize("/**", true, buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/**");

	unlink(link);
	rmdir(real);
	rmdir(dir);
}

static void levels_parse_and_order(void **state)
{
	static const char *const names[] = { "unrestricted", "standard",
					     "sandboxed", "readonly",
					     "minimal" };
	struct perm_policy *prev = NULL;
	struct perm_why why;

	for (int i = 0; i < PERM_LEVEL_CUSTOM; i++) {
		char text[64];
		snprintf(text, sizeof(text), "\"%s\"", names[i]);
		struct perm_policy *p = parse_ok(text);
		struct perm_policy *l = level((enum perm_level)i);
		assert_true(perm_policy_equal(p, l));
		assert_int_equal(perm_policy_level(p), i);
		assert_string_equal(perm_level_name((enum perm_level)i),
				    names[i]);
		assert_int_equal(perm_level_from_name(names[i]), i);
		/* Each level is within the one above it, never the reverse. */
		if (prev) {
			if (perm_policy_within(p, prev, NULL, "x", &why) != 0)
				fail_msg("%s not within the level above: %s",
					 names[i], why.msg);
			assert_int_equal(
				perm_policy_within(prev, p, NULL, "x", &why),
				-EACCES);
		}
		perm_policy_free(prev);
		perm_policy_free(l);
		prev = p;
	}
	perm_policy_free(prev);
	assert_int_equal(perm_level_from_name("root"), -EINVAL);
}

static void level_contents(void **state)
{
	struct perm_policy *u = level(PERM_LEVEL_UNRESTRICTED);
	struct perm_policy *s = level(PERM_LEVEL_STANDARD);
	struct perm_policy *r = level(PERM_LEVEL_READONLY);
	struct perm_policy *m = level(PERM_LEVEL_MINIMAL);

	assert_true(perm_policy_is_unrestricted(u));
	assert_false(perm_policy_is_unrestricted(s));
	assert_true(s->can_exec && s->can_read && s->can_write &&
		    s->can_spawn && s->can_think && !s->can_http);
	assert_int_equal(s->read.n, 0);
	assert_true(s->blocked.n > 0);
	assert_true(r->can_read && !r->can_write && !r->can_exec);
	assert_true(!m->can_read && !m->can_write && !m->can_exec &&
		    !m->can_spawn && !m->can_http);
	assert_int_equal(s->max_calls, PERM_UNLIMITED);
	perm_policy_free(u);
	perm_policy_free(s);
	perm_policy_free(r);
	perm_policy_free(m);
}

static void overrides(void **state)
{
	struct perm_policy *p = parse_ok(
		"{\"level\": \"standard\", \"can_http\": true, \"network\": "
		"[\"API.GitHub.com\", \"*.example.org\"], \"llm\": "
		"{\"max_calls\": 50}}");
	struct perm_policy *s = level(PERM_LEVEL_STANDARD);

	assert_true(p->can_http);
	assert_int_equal(p->network.n, 2);
	assert_string_equal(p->network.v[0], "api.github.com");
	assert_int_equal(p->max_calls, 50);
	assert_int_equal(p->max_tokens, PERM_UNLIMITED);
	assert_true(p->can_exec && p->can_spawn);
	assert_int_equal(p->exec.n, s->exec.n);
	assert_int_equal(perm_policy_level(p), PERM_LEVEL_CUSTOM);
	perm_policy_free(p);

	/* Without a level: nothing but what is given. */
	p = parse_ok("{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/**\"], \"no_symlinks\": true}, \"http_methods\": "
		     "[\"get\"]}");
	assert_true(p->can_read);
	assert_false(p->can_write || p->can_exec || p->can_think ||
		     p->can_spawn || p->can_http);
	assert_int_equal(p->read.n, 1);
	assert_string_equal(p->read.v[0], "/srv/**");
	assert_int_equal(p->blocked.n, 0);
	assert_true(p->no_symlinks);
	assert_string_equal(p->http_methods.v[0], "GET");
	perm_policy_free(p);

	/* A list replaces the level's, it does not add to it. */
	p = parse_ok("{\"level\": \"standard\", \"exec\": [\"/bin/sh\"], "
		     "\"filesystem\": {\"blocked\": []}}");
	assert_int_equal(p->exec.n, 1);
	assert_int_equal(p->blocked.n, 0);
	perm_policy_free(p);
	perm_policy_free(s);
}

static void parse_errors(void **state)
{
	parse_fails("\"root\"", "unknown permission level 'root'");
	parse_fails("42", "level name or a policy object");
	parse_fails("{\"level\": 3}", "permissions.level");
	parse_fails("{\"level\": \"godmode\"}", "unknown permission level");
	parse_fails("{\"can_fly\": true}",
		    "unknown field 'permissions.can_fly'");
	parse_fails("{\"can_exec\": 1}", "'permissions.can_exec' must be true");
	parse_fails("{\"filesystem\": []}", "'permissions.filesystem' must be "
					    "an object");
	parse_fails("{\"filesystem\": {\"exec\": []}}",
		    "unknown field 'permissions.filesystem.exec'");
	parse_fails("{\"filesystem\": {\"read\": \"/tmp/**\"}}",
		    "'permissions.filesystem.read' must be an array");
	parse_fails("{\"filesystem\": {\"read\": [\"/tmp/**\", 5]}}",
		    "'permissions.filesystem.read[1]' must be a string");
	parse_fails("{\"filesystem\": {\"write\": [\"tmp\"]}}",
		    "permissions.filesystem.write[0]'");
	parse_fails("{\"filesystem\": {\"read\": [\"/a/../etc\"]}}", "'..'");
	parse_fails("{\"exec\": [\"ls\"]}", "absolute");
	parse_fails("{\"exec\": [\"/usr/**/bin\"]}", "last component");
	parse_fails("{\"network\": [\"http://evil.com#.x.com\"]}",
		    "permissions.network[0]");
	parse_fails("{\"network\": [\"a..b\"]}", "not a domain");
	parse_fails("{\"network\": [\"-a.com\"]}", "not a domain");
	parse_fails("{\"http_methods\": [\"GE T\"]}", "not an HTTP method");
	parse_fails("{\"llm\": {\"max_calls\": -1}}",
		    "permissions.llm.max_calls");
	parse_fails("{\"llm\": {\"max_calls\": 1.5}}", "non-negative integer");
	parse_fails("{\"llm\": {\"budget\": 1}}", "permissions.llm.budget");
	parse_fails("{\"llm\": 5}", "'permissions.llm' must be an object");

	char big[64 * 12 + 64] = "{\"exec\": [";
	for (int i = 0; i < PERM_MAX_ENTRIES + 1; i++)
		strcat(big, i ? ", \"/a\"" : "\"/a\"");
	strcat(big, "]}");
	parse_fails(big, "at most 64");
}

static void json_round_trip(void **state)
{
	static const char *const texts[] = {
		"\"unrestricted\"",
		"\"standard\"",
		"\"minimal\"",
		"{\"level\": \"sandboxed\", \"can_http\": true, \"network\": "
		"[\"*.example.com\"], \"http_methods\": [\"*\"], \"llm\": "
		"{\"max_tokens\": 1000, \"max_calls\": 3}, \"filesystem\": "
		"{\"read\": [\"/srv/**\"], \"no_symlinks\": true}}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct perm_policy *p = parse_ok(texts[i]), *q = NULL;
		struct perm_why why;
		json_t *j = perm_policy_to_json(p);

		assert_non_null(j);
		assert_true(json_is_object(json_object_get(j, "filesystem")));
		assert_true(json_is_boolean(json_object_get(j, "can_exec")));
		assert_int_equal(perm_policy_from_json(j, &q, &why), 0);
		assert_true(perm_policy_equal(p, q));
		json_decref(j);
		perm_policy_free(p);
		perm_policy_free(q);
	}
}

/* within(child_text, parent_text) gives want; on -EACCES the message
 * contains needle. */
static void check_within(const char *child_text, const char *parent_text,
			 const char *work, int want, const char *needle)
{
	struct perm_policy *c = parse_ok(child_text),
			   *p = parse_ok(parent_text);
	struct perm_why why = { "" };
	int r = perm_policy_within(c, p, work, "the parent's", &why);

	if (r != want)
		fail_msg("within(%s, %s) = %d, want %d (%s)", child_text,
			 parent_text, r, want, why.msg);
	if (want < 0 && !strstr(why.msg, needle))
		fail_msg("within(%s, %s): '%s' lacks '%s'", child_text,
			 parent_text, why.msg, needle);
	perm_policy_free(c);
	perm_policy_free(p);
}

static void within_rules(void **state)
{
	/* Capabilities. */
	check_within("{\"can_http\": true}", "\"standard\"", NULL, -EACCES,
		     "permissions.can_http");
	check_within("\"unrestricted\"", "\"standard\"", NULL, -EACCES,
		     "permissions.can_http: the parent's policy has can_http "
		     "false");
	check_within("\"standard\"", "\"unrestricted\"", NULL, 0, NULL);
	/* Paths: equal, beneath, wildcards only when the text is covered. */
	check_within("{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/a/b/**\", \"/srv/a/*.txt\"]}}",
		     "{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/a/**\"]}}",
		     NULL, 0, NULL);
	check_within("{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/ab/**\"]}}",
		     "{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/a/**\"]}}",
		     NULL, -EACCES,
		     "permissions.filesystem.read: '/srv/ab/**'");
	check_within("{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/**\"]}}",
		     "{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/*\"]}}",
		     NULL, -EACCES, "filesystem.read");
	/* A list that grants nothing (capability off) is not compared. */
	check_within("{\"filesystem\": {\"read\": [\"/**\"]}}",
		     "{\"can_read\": true}", NULL, 0, NULL);
	/* The parent's own work directory counts as its path. */
	check_within("{\"can_write\": true, \"filesystem\": {\"write\": "
		     "[\"/state/agents/5/shared/**\"]}}",
		     "{\"can_write\": true}", "/state/agents/5", 0, NULL);
	check_within("{\"can_write\": true, \"filesystem\": {\"write\": "
		     "[\"/state/agents/6/**\"]}}",
		     "{\"can_write\": true}", "/state/agents/5", -EACCES,
		     "filesystem.write");
	/* Blocked: the child blocks at least what the parent blocks. */
	check_within("{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/**\"]}}",
		     "{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/**\"], \"blocked\": [\"/srv/secret/**\"]}}",
		     NULL, -EACCES, "blocks '/srv/secret/**'");
	check_within("{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/**\"], \"blocked\": [\"/srv/**\"]}}",
		     "{\"can_read\": true, \"filesystem\": {\"read\": "
		     "[\"/srv/**\"], \"blocked\": [\"/srv/secret/**\"]}}",
		     NULL, 0, NULL);
	check_within("{\"can_read\": true}",
		     "{\"can_read\": true, \"filesystem\": {\"no_symlinks\": "
		     "true}}",
		     NULL, -EACCES, "no_symlinks");
	/* Programs. */
	check_within("{\"can_exec\": true, \"exec\": [\"/usr/bin/ls\"]}",
		     "{\"can_exec\": true, \"exec\": [\"/usr/bin/**\"]}", NULL,
		     0, NULL);
	check_within("{\"can_exec\": true, \"exec\": [\"/opt/tool\"]}",
		     "\"standard\"", NULL, -EACCES, "permissions.exec");
	/* Domains and methods. */
	check_within("{\"can_http\": true, \"network\": [\"a.example.com\", "
		     "\"*.b.example.com\"], \"http_methods\": [\"GET\"]}",
		     "{\"can_http\": true, \"network\": [\"*.example.com\"], "
		     "\"http_methods\": [\"GET\", \"POST\"]}",
		     NULL, 0, NULL);
	check_within("{\"can_http\": true, \"network\": [\"example.com\"]}",
		     "{\"can_http\": true, \"network\": [\"*.example.com\"]}",
		     NULL, -EACCES, "permissions.network: 'example.com'");
	check_within("{\"can_http\": true, \"network\": [\"*\"]}",
		     "{\"can_http\": true, \"network\": [\"*.example.com\"]}",
		     NULL, -EACCES, "network");
	check_within("{\"can_http\": true, \"http_methods\": [\"DELETE\"]}",
		     "{\"can_http\": true, \"http_methods\": [\"GET\"]}", NULL,
		     -EACCES, "http_methods");
	/* LLM limits. */
	check_within("{\"can_think\": true, \"llm\": {\"max_calls\": 10}}",
		     "{\"can_think\": true, \"llm\": {\"max_calls\": 50}}",
		     NULL, 0, NULL);
	check_within("{\"can_think\": true, \"llm\": {\"max_calls\": 100}}",
		     "{\"can_think\": true, \"llm\": {\"max_calls\": 50}}",
		     NULL, -EACCES, "100 exceeds the parent's limit of 50");
	check_within("{\"can_think\": true}",
		     "{\"can_think\": true, \"llm\": {\"max_tokens\": 5}}",
		     NULL, -EACCES, "permissions.llm.max_tokens: no limit");
	check_within("{\"can_think\": true, \"llm\": {\"max_cost_usd\": 1}}",
		     "{\"can_think\": true, \"llm\": {\"max_cost_usd\": 2.5}}",
		     NULL, 0, NULL);
	check_within("{\"can_think\": true, \"llm\": {\"max_cost_usd\": 3}}",
		     "{\"can_think\": true, \"llm\": {\"max_cost_usd\": 2.5}}",
		     NULL, -EACCES, "permissions.llm.max_cost_usd");
	check_within("{\"can_think\": true}",
		     "{\"can_think\": true, \"llm\": {\"max_cost_usd\": 2.5}}",
		     NULL, -EACCES, "no limit exceeds");
}

static void cost_limit(void **state)
{
	struct perm_policy *p = parse_ok(
		"{\"can_think\": true, \"llm\": {\"max_cost_usd\": 0.75}}");
	struct perm_policy *q = NULL;
	json_t *j = perm_policy_to_json(p);

	assert_true(p->max_cost_usd == 0.75);
	assert_true(json_real_value(json_object_get(
			    json_object_get(j, "llm"), "max_cost_usd")) == 0.75);
	assert_int_equal(perm_policy_copy(p, &q), 0);
	assert_true(perm_policy_equal(p, q));
	perm_policy_free(q);
	q = parse_ok("{\"can_think\": true}");
	assert_true(q->max_cost_usd < 0);
	assert_false(perm_policy_equal(p, q));
	assert_int_equal(perm_policy_inherit(q, p), 0);
	assert_true(q->max_cost_usd == 0.75);
	json_decref(j);
	perm_policy_free(p);
	perm_policy_free(q);
	parse_fails("{\"llm\": {\"max_cost_usd\": -1}}",
		    "permissions.llm.max_cost_usd");
	parse_fails("{\"llm\": {\"max_cost_usd\": \"1\"}}",
		    "permissions.llm.max_cost_usd");
}

static void messaging_field(void **state)
{
	struct perm_policy *any = parse_ok("{\"level\": \"unrestricted\"}");
	struct perm_policy *tree = parse_ok("{\"level\": \"standard\"}");
	struct perm_policy *none = parse_ok("{}");
	struct perm_policy *set = parse_ok(
		"{\"level\": \"standard\", \"messaging\": \"none\"}");
	struct perm_why why;
	json_t *j = perm_policy_to_json(set);

	assert_int_equal(any->messaging, PERM_MSG_ANY);
	assert_int_equal(tree->messaging, PERM_MSG_TREE);
	/* Without a level, nothing is allowed: operators only. */
	assert_int_equal(none->messaging, PERM_MSG_NONE);
	assert_int_equal(set->messaging, PERM_MSG_NONE);
	assert_string_equal(json_string_value(json_object_get(j, "messaging")),
			    "none");
	/* Never further than the parent's. */
	assert_int_equal(perm_policy_within(set, tree, NULL, "p", &why), 0);
	assert_int_equal(perm_policy_within(tree, set, NULL, "p", &why),
			 -EACCES);
	assert_non_null(strstr(why.msg, "permissions.messaging"));
	assert_int_equal(perm_policy_within(any, tree, NULL, "p", &why),
			 -EACCES);
	assert_false(perm_policy_equal(set, tree));
	parse_fails("{\"messaging\": \"everyone\"}", "permissions.messaging");
	parse_fails("{\"messaging\": 1}", "permissions.messaging");
	json_decref(j);
	perm_policy_free(any);
	perm_policy_free(tree);
	perm_policy_free(none);
	perm_policy_free(set);
}

static void inherit(void **state)
{
	struct perm_policy *c = parse_ok("{\"level\": \"standard\", "
					 "\"filesystem\": {\"blocked\": []}}");
	struct perm_policy *p = parse_ok(
		"{\"level\": \"standard\", \"filesystem\": {\"blocked\": "
		"[\"/srv/x/**\"], \"no_symlinks\": true}, \"llm\": "
		"{\"max_calls\": 7}}");
	struct perm_why why;

	assert_int_equal(perm_policy_within(c, p, NULL, "p", &why), -EACCES);
	assert_int_equal(perm_policy_inherit(c, p), 0);
	assert_int_equal(c->blocked.n, 1);
	assert_string_equal(c->blocked.v[0], "/srv/x/**");
	assert_true(c->no_symlinks);
	assert_int_equal(c->max_calls, 7);
	assert_int_equal(perm_policy_within(c, p, NULL, "p", &why), 0);
	/* Inheriting twice changes nothing. */
	assert_int_equal(perm_policy_inherit(c, p), 0);
	assert_int_equal(c->blocked.n, 1);
	/* A copy is equal and independent. */
	struct perm_policy *d = NULL;
	assert_int_equal(perm_policy_copy(c, &d), 0);
	assert_true(perm_policy_equal(c, d));
	d->can_exec = !d->can_exec;
	assert_false(perm_policy_equal(c, d));
	perm_policy_free(d);
	perm_policy_free(c);
	perm_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(glob_validate),
		cmocka_unit_test(glob_match_and_root),
		cmocka_unit_test(glob_covers),
		cmocka_unit_test(path_normalize),
		cmocka_unit_test(glob_canonicalize),
		cmocka_unit_test(levels_parse_and_order),
		cmocka_unit_test(level_contents),
		cmocka_unit_test(overrides),
		cmocka_unit_test(parse_errors),
		cmocka_unit_test(json_round_trip),
		cmocka_unit_test(within_rules),
		cmocka_unit_test(inherit),
		cmocka_unit_test(cost_limit),
		cmocka_unit_test(messaging_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
