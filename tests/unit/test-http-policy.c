/* SPDX-License-Identifier: MIT */
/*
 * HTTP destination checks (kernel/http-policy.c): host extraction through
 * libcurl's URL API (userinfo, ports, fragments, queries, backslashes, IDN,
 * case, trailing dots), IP literals in every form the resolver accepts,
 * address classes, network pattern matching, the "named exactly" rule for
 * non-public addresses, methods, and the canonical form of address entries
 * in policies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http-policy.h"
#include "perm-policy.h"

/* A network list from a NULL-terminated list of canonical entries. */
static struct perm_list list_of(const char *const *v)
{
	struct perm_list l = { .v = (char **)v };

	while (v[l.n])
		l.n++;
	return l;
}

static void parse_ok(const char *url, const char *host, bool is_ip, int port)
{
	struct http_target t;
	struct perm_why why = { "" };

	if (http_url_parse(url, &t, &why) != 0)
		fail_msg("%s: %s", url, why.msg);
	if (strcmp(t.host, host) != 0)
		fail_msg("%s: host '%s', expected '%s'", url, t.host, host);
	if (t.is_ip != is_ip)
		fail_msg("%s: is_ip %d", url, t.is_ip);
	if (port && t.port != port)
		fail_msg("%s: port %d, expected %d", url, t.port, port);
}

static void host_extraction(void **state)
{
	/* userinfo is not the host */
	parse_ok("http://good.com@evil.com/", "evil.com", false, 80);
	parse_ok("http://good.com:pw@evil.com:8080/x", "evil.com", false, 8080);
	parse_ok("http://allowed@127.0.0.2/", "127.0.0.2", true, 80);
	/* '#' and '?' end the authority */
	parse_ok("http://evil.com#@good.com/", "evil.com", false, 80);
	parse_ok("http://evil.com?@good.com/", "evil.com", false, 80);
	parse_ok("http://evil.com#.good.com", "evil.com", false, 80);
	parse_ok("https://evil.com/?u=http://good.com", "evil.com", false, 443);
	/* case and the resolver's trailing dot */
	parse_ok("HTTP://API.Example.COM./x", "api.example.com", false, 80);
	/* IDN becomes punycode */
	parse_ok("http://bücher.example/", "xn--bcher-kva.example", false, 80);
	/* IPv4 in every form the resolver takes */
	parse_ok("http://2130706433/", "127.0.0.1", true, 80);
	parse_ok("http://0177.0.0.1/", "127.0.0.1", true, 80);
	parse_ok("http://0x7f000001/", "127.0.0.1", true, 80);
	parse_ok("http://0x7f.0.0.1/", "127.0.0.1", true, 80);
	parse_ok("http://127.1/", "127.0.0.1", true, 80);
	parse_ok("http://127.0.0.1./", "127.0.0.1", true, 80);
	/* IPv6 literals, mapped IPv4 included */
	parse_ok("http://[::1]:8080/", "::1", true, 8080);
	parse_ok("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", true, 80);
	parse_ok("http://[0:0:0:0:0:0:0:1]/", "::1", true, 80);
	/* libcurl reads "evil.com\" as userinfo (browsers would not): what
	 * is checked is what libcurl then connects to. */
	parse_ok("http://evil.com\\@good.com/", "good.com", false, 80);
	/* A name that merely starts like an address is a name. */
	parse_ok("http://127.0.0.1.nip.io/", "127.0.0.1.nip.io", false, 80);
}

static void parse_fails(const char *url, int err, const char *needle)
{
	struct http_target t;
	struct perm_why why = { "" };

	int r = http_url_parse(url, &t, &why);
	if (r != err)
		fail_msg("%s: %d, expected %d (%s)", url, r, err, why.msg);
	if (!strstr(why.msg, needle))
		fail_msg("%s: '%s' lacks '%s'", url, why.msg, needle);
}

static void bad_urls(void **state)
{
	parse_fails("file:///etc/passwd", -EACCES, "scheme 'file'");
	parse_fails("gopher://127.0.0.1:70/", -EACCES, "scheme 'gopher'");
	parse_fails("ftp://example.com/", -EACCES, "scheme 'ftp'");
	parse_fails("dict://example.com/", -EACCES, "scheme 'dict'");
	parse_fails("FILE:///etc/passwd", -EACCES, "scheme 'file'");
	parse_fails("x-weird://example.com/", -EACCES, "x-weird");
	parse_fails("example.com/path", -EINVAL, "invalid URL");
	parse_fails("", -EINVAL, "invalid URL");
	parse_fails("http://", -EINVAL, "");
	parse_fails("http://[fe80::1%25eth0]/", -EINVAL, "zone");
	parse_fails("http://exa mple.com/", -EINVAL, "invalid URL");
}

static void addr_classes(void **state)
{
	static const struct {
		const char *addr;
		enum http_addr_class cls;
	} cases[] = {
		{ "0.0.0.0", HTTP_ADDR_UNSPECIFIED },
		{ "0.1.2.3", HTTP_ADDR_RESERVED },
		{ "127.0.0.1", HTTP_ADDR_LOOPBACK },
		{ "127.255.255.254", HTTP_ADDR_LOOPBACK },
		{ "10.1.2.3", HTTP_ADDR_PRIVATE },
		{ "172.16.0.1", HTTP_ADDR_PRIVATE },
		{ "172.31.255.255", HTTP_ADDR_PRIVATE },
		{ "172.32.0.1", HTTP_ADDR_PUBLIC },
		{ "192.168.1.1", HTTP_ADDR_PRIVATE },
		{ "169.254.169.254", HTTP_ADDR_LINK_LOCAL },
		{ "100.64.0.1", HTTP_ADDR_SHARED },
		{ "100.127.255.255", HTTP_ADDR_SHARED },
		{ "100.128.0.1", HTTP_ADDR_PUBLIC },
		{ "192.0.2.1", HTTP_ADDR_DOCUMENTATION },
		{ "198.18.0.1", HTTP_ADDR_RESERVED },
		{ "224.0.0.1", HTTP_ADDR_MULTICAST },
		{ "255.255.255.255", HTTP_ADDR_RESERVED },
		{ "8.8.8.8", HTTP_ADDR_PUBLIC },
		{ "93.184.216.34", HTTP_ADDR_PUBLIC },
		{ "::", HTTP_ADDR_UNSPECIFIED },
		{ "::1", HTTP_ADDR_LOOPBACK },
		{ "::ffff:127.0.0.1", HTTP_ADDR_LOOPBACK },
		{ "::ffff:10.0.0.1", HTTP_ADDR_PRIVATE },
		{ "::ffff:169.254.169.254", HTTP_ADDR_LINK_LOCAL },
		{ "::ffff:8.8.8.8", HTTP_ADDR_PUBLIC },
		{ "::ffff:0:127.0.0.1", HTTP_ADDR_LOOPBACK },
		{ "64:ff9b::127.0.0.1", HTTP_ADDR_LOOPBACK },
		{ "2002:7f00:1::", HTTP_ADDR_LOOPBACK },
		{ "2002:808:808::", HTTP_ADDR_PUBLIC },
		{ "::127.0.0.1", HTTP_ADDR_RESERVED },
		{ "fc00::1", HTTP_ADDR_UNIQUE_LOCAL },
		{ "fd12:3456::1", HTTP_ADDR_UNIQUE_LOCAL },
		{ "fe80::1", HTTP_ADDR_LINK_LOCAL },
		{ "febf::1", HTTP_ADDR_LINK_LOCAL },
		{ "fec0::1", HTTP_ADDR_PRIVATE },
		{ "ff02::1", HTTP_ADDR_MULTICAST },
		{ "2001:db8::1", HTTP_ADDR_DOCUMENTATION },
		{ "2606:4700::1111", HTTP_ADDR_PUBLIC },
	};
	struct http_addr a;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(http_addr_parse(cases[i].addr, &a), 0);
		if (http_addr_classify(&a) != cases[i].cls)
			fail_msg("%s: class %s, expected %s", cases[i].addr,
				 http_addr_class_name(http_addr_classify(&a)),
				 http_addr_class_name(cases[i].cls));
	}
	/* Odd IPv4 forms parse to the same address. */
	const char *forms[] = { "2130706433", "0177.0.0.1", "0x7f000001",
				"0x7f.1",     "127.1",	    "017700000001" };
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char buf[64];
		assert_int_equal(http_addr_parse(forms[i], &a), 0);
		http_addr_format(&a, buf, sizeof(buf));
		if (strcmp(buf, "127.0.0.1") != 0)
			fail_msg("%s -> %s", forms[i], buf);
	}
	assert_int_equal(http_addr_parse("[::1]", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(http_addr_parse("example.com", &a), -EINVAL);
	assert_int_equal(http_addr_parse("1.2.3.4.5", &a), -EINVAL);
	assert_int_equal(http_addr_parse("[::1", &a), -EINVAL);
}

/* What http_policy_check_target() says for url under the entries. */
static int target(const char *const *entries, const char *url,
		  struct perm_why *why)
{
	struct perm_list l = list_of(entries);
	struct http_target t;

	assert_int_equal(http_url_parse(url, &t, why), 0);
	return http_policy_check_target(&l, &t, why);
}

static void name_matching(void **state)
{
	static const char *const gh[] = { "api.github.com", "*.example.com",
					  NULL };
	static const char *const any[] = { "*", NULL };
	static const char *const none[] = { NULL };
	struct perm_why why;

	assert_int_equal(target(gh, "https://api.github.com/x", &why), 0);
	assert_int_equal(target(gh, "https://API.GITHUB.COM./x", &why), 0);
	assert_int_equal(target(gh, "https://a.example.com/", &why), 0);
	assert_int_equal(target(gh, "https://a.b.example.com:444/", &why), 0);
	/* *.x is subdomains only, and suffixes are whole labels */
	assert_int_equal(target(gh, "https://example.com/", &why), -EACCES);
	assert_int_equal(target(gh, "https://badexample.com/", &why), -EACCES);
	assert_int_equal(target(gh, "https://github.com/", &why), -EACCES);
	assert_int_equal(target(gh, "https://api.github.com.evil.net/", &why),
			 -EACCES);
	assert_non_null(strstr(why.msg, "api.github.com.evil.net"));
	/* the tricks: the host is evil.com every time */
	assert_int_equal(target(gh, "http://api.github.com@evil.com/", &why),
			 -EACCES);
	assert_int_equal(target(gh, "http://evil.com#@api.github.com/", &why),
			 -EACCES);
	assert_int_equal(target(gh, "http://evil.com?.api.github.com", &why),
			 -EACCES);
	assert_int_equal(target(gh, "http://evil.com#.example.com", &why),
			 -EACCES);
	/* "*" takes any name; addresses are checked after DNS */
	assert_int_equal(target(any, "http://anything.example.org/", &why), 0);
	assert_int_equal(target(any, "http://localhost/", &why), 0);
	assert_int_equal(target(none, "http://example.com/", &why), -EACCES);
}

static void ip_literals(void **state)
{
	static const char *const any[] = { "*", NULL };
	static const char *const local[] = { "127.0.0.1", NULL };
	static const char *const v6[] = { "[::1]", NULL };
	static const char *const meta[] = { "*.example.com", NULL };
	struct perm_why why;

	/* "*" is every public address, never a special one */
	assert_int_equal(target(any, "http://8.8.8.8/", &why), 0);
	assert_int_equal(target(any, "http://[2606:4700::1111]/", &why), 0);
	const char *refused[] = {
		"http://127.0.0.1/",
		"http://2130706433/",
		"http://0177.0.0.1/",
		"http://0x7f000001/",
		"http://127.1/",
		"http://127.0.0.1./",
		"http://[::1]/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:7f00:1]/",
		"http://0.0.0.0/",
		"http://0/",
		"http://[::]/",
		"http://10.0.0.1/",
		"http://192.168.0.1/",
		"http://172.16.5.4/",
		"http://169.254.169.254/",
		"http://100.64.0.1/",
		"http://[fd00::1]/",
		"http://[fe80::1]/",
		"http://[64:ff9b::a00:1]/",
		"http://[2002:a00:1::]/",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (target(any, refused[i], &why) != -EACCES)
			fail_msg("%s allowed under '*'", refused[i]);
	assert_int_equal(target(any, "http://169.254.169.254/", &why), -EACCES);
	assert_non_null(strstr(why.msg, "link-local"));

	/* Named exactly: that address in any spelling, no other. */
	assert_int_equal(target(local, "http://127.0.0.1:8080/", &why), 0);
	assert_int_equal(target(local, "http://2130706433/", &why), 0);
	assert_int_equal(target(local, "http://0x7f.0.0.1/", &why), 0);
	assert_int_equal(target(local, "http://127.0.0.2/", &why), -EACCES);
	assert_int_equal(target(local, "http://2130706434/", &why), -EACCES);
	assert_int_equal(target(local, "http://allowed@127.0.0.2/", &why),
			 -EACCES);
	assert_int_equal(target(local, "http://[::1]/", &why), -EACCES);
	assert_int_equal(target(local, "http://[::ffff:127.0.0.2]/", &why),
			 -EACCES);
	assert_int_equal(target(local, "http://8.8.8.8/", &why), -EACCES);
	assert_int_equal(target(local, "http://127.0.0.1.nip.io/", &why),
			 -EACCES);
	assert_int_equal(target(v6, "http://[::1]/", &why), 0);
	assert_int_equal(target(v6, "http://[0::1]/", &why), 0);
	/* A wildcard never names an address. */
	assert_int_equal(target(meta, "http://169.254.169.254/", &why),
			 -EACCES);
}

/* The address check after DNS. */
static int addr_check(const char *const *entries, const char *url,
		      const char *addr, struct perm_why *why)
{
	struct perm_list l = list_of(entries);
	struct http_target t;
	struct http_addr a;

	assert_int_equal(http_url_parse(url, &t, why), 0);
	assert_int_equal(http_addr_parse(addr, &a), 0);
	return http_policy_check_addr(&l, &t, &a, why);
}

static void resolved_addresses(void **state)
{
	static const char *const any[] = { "*", NULL };
	static const char *const lh[] = { "localhost", NULL };
	static const char *const lh_ip[] = { "localhost", "127.0.0.1", NULL };
	static const char *const ip[] = { "127.0.0.1", "*", NULL };
	static const char *const sub[] = { "*.corp.example", NULL };
	struct perm_why why;

	/* DNS rebinding: a name allowed by "*" that resolves to loopback */
	assert_int_equal(
		addr_check(any, "http://localhost/", "127.0.0.1", &why),
		-EACCES);
	assert_non_null(strstr(why.msg, "resolves to 127.0.0.1"));
	assert_non_null(strstr(why.msg, "loopback"));
	assert_int_equal(addr_check(any, "http://rebind.example/", "::1", &why),
			 -EACCES);
	assert_int_equal(addr_check(any, "http://x.example/", "10.0.0.1", &why),
			 -EACCES);
	assert_int_equal(addr_check(any, "http://x.example/",
				    "::ffff:169.254.169.254", &why),
			 -EACCES);
	assert_int_equal(addr_check(any, "http://x.example/", "8.8.8.8", &why),
			 0);
	/* a name, even named exactly, opens no special address ... */
	assert_int_equal(addr_check(lh, "http://localhost/", "127.0.0.1", &why),
			 -EACCES);
	assert_non_null(strstr(why.msg, "names that address"));
	/* ... its address entry does, and only that address */
	assert_int_equal(
		addr_check(lh_ip, "http://localhost/", "127.0.0.1", &why), 0);
	assert_int_equal(addr_check(lh_ip, "http://localhost/", "::1", &why),
			 -EACCES);
	/* an address entry works whatever name led there */
	assert_int_equal(addr_check(ip, "http://x.example/", "127.0.0.1", &why),
			 0);
	assert_int_equal(addr_check(ip, "http://x.example/", "127.0.0.2", &why),
			 -EACCES);
	/* a wildcard name does not name the private address it resolves to */
	assert_int_equal(
		addr_check(sub, "http://db.corp.example/", "10.1.1.1", &why),
		-EACCES);
}

/* perm_policy_within() on network entries: nothing a parent cannot
 * reach itself, in particular no non-public address through a wildcard. */
static void entry_coverage(void **state)
{
	static const struct {
		const char *parent, *child;
		bool covers;
	} cases[] = {
		{ "*", "api.github.com", true },
		{ "*", "*.example.com", true },
		{ "*", "8.8.8.8", true },
		{ "*", "[2606:4700::1111]", true },
		{ "*", "127.0.0.1", false },
		{ "*", "10.0.0.5", false },
		{ "*", "169.254.169.254", false },
		{ "*", "[::1]", false },
		{ "*", "[::ffff:127.0.0.1]", false },
		{ "*.example.com", "a.example.com", true },
		{ "*.example.com", "*.a.example.com", true },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "*", false },
		{ "127.0.0.1", "127.0.0.1", true },
		{ "127.0.0.1", "127.0.0.2", false },
		{ "a.com", "a.com", true },
		{ "a.com", "b.a.com", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (http_policy_entry_covers(cases[i].parent, cases[i].child) !=
		    cases[i].covers)
			fail_msg("'%s' covers '%s': expected %d",
				 cases[i].parent, cases[i].child,
				 cases[i].covers);

	/* And so SPAWN/SET_PERMS refuse to give a child loopback under "*". */
	json_t *pv = json_loads("{\"can_http\": true, \"network\": [\"*\"]}", 0,
				NULL);
	json_t *cv = json_loads("{\"can_http\": true, \"network\": "
				"[\"api.github.com\", \"127.0.0.1\"]}",
				0, NULL);
	struct perm_policy *p = NULL, *c = NULL;
	struct perm_why why;
	assert_int_equal(perm_policy_from_json(pv, &p, &why), 0);
	assert_int_equal(perm_policy_from_json(cv, &c, &why), 0);
	assert_int_equal(perm_policy_within(c, p, NULL, "the parent's", &why),
			 -EACCES);
	assert_non_null(strstr(why.msg, "127.0.0.1"));
	perm_policy_free(c);
	perm_policy_free(p);
	json_decref(pv);
	json_decref(cv);
}

static void methods(void **state)
{
	static const char *const std[] = { "GET", "HEAD", "POST", NULL };
	static const char *const any[] = { "*", NULL };
	struct perm_list l = list_of(std), a = list_of(any);
	struct perm_why why;

	assert_int_equal(http_policy_check_method(&l, "GET", &why), 0);
	assert_int_equal(http_policy_check_method(&l, "POST", &why), 0);
	assert_int_equal(http_policy_check_method(&l, "DELETE", &why), -EACCES);
	assert_non_null(strstr(why.msg, "DELETE"));
	assert_int_equal(http_policy_check_method(&a, "PATCH", &why), 0);
}

static void canonical_entries(void **state)
{
	char buf[64];

	assert_int_equal(
		http_policy_canonical_entry("example.com", buf, sizeof(buf)),
		0);
	assert_int_equal(
		http_policy_canonical_entry("*.example.com", buf, sizeof(buf)),
		0);
	assert_int_equal(
		http_policy_canonical_entry("deadbeef", buf, sizeof(buf)), 0);
	assert_int_equal(
		http_policy_canonical_entry("0x7f000001", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "127.0.0.1");
	assert_int_equal(
		http_policy_canonical_entry("10.0.0.5", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "10.0.0.5");
	assert_int_equal(
		http_policy_canonical_entry("[0:0::1]", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "[::1]");
	assert_int_equal(
		http_policy_canonical_entry("[FD00::AB]", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "[fd00::ab]");
	assert_int_equal(
		http_policy_canonical_entry("[nope]", buf, sizeof(buf)),
		-EINVAL);

	/* ... and policies store them so. */
	json_t *v = json_loads("{\"can_http\": true, \"network\": "
			       "[\"0177.0.0.1\", \"[::1]\", \"API.x.com\"]}",
			       0, NULL);
	struct perm_policy *p = NULL;
	struct perm_why why;
	assert_int_equal(perm_policy_from_json(v, &p, &why), 0);
	assert_int_equal(p->network.n, 3);
	assert_string_equal(p->network.v[0], "127.0.0.1");
	assert_string_equal(p->network.v[1], "[::1]");
	assert_string_equal(p->network.v[2], "api.x.com");
	perm_policy_free(p);
	json_decref(v);
	v = json_loads("{\"network\": [\"[::zz]\"]}", 0, NULL);
	assert_int_equal(perm_policy_from_json(v, &p, &why), -EINVAL);
	assert_non_null(strstr(why.msg, "network[0]"));
	json_decref(v);
}

int main(void)
{
	/* As cloved does: libcurl's IDN conversion reads the locale. */
	setlocale(LC_CTYPE, "C.UTF-8");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(host_extraction),
		cmocka_unit_test(bad_urls),
		cmocka_unit_test(addr_classes),
		cmocka_unit_test(name_matching),
		cmocka_unit_test(ip_literals),
		cmocka_unit_test(resolved_addresses),
		cmocka_unit_test(entry_coverage),
		cmocka_unit_test(methods),
		cmocka_unit_test(canonical_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
