/* SPDX-License-Identifier: MIT */
/*
 * HTTP destination checks (see http-policy.h). The URL is taken apart by
 * libcurl's URL API, the same parser the transfer then uses (the parsed
 * handle is not shared, but the text given to libcurl is the one parsed
 * here), so what is checked is what is fetched. Address classes follow
 * the IANA special-purpose registries for IPv4 and IPv6.
 */
#include "http-policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "perm-policy.h"

static const char *const class_names[] = {
	[HTTP_ADDR_PUBLIC] = "public",
	[HTTP_ADDR_UNSPECIFIED] = "unspecified",
	[HTTP_ADDR_LOOPBACK] = "loopback",
	[HTTP_ADDR_PRIVATE] = "private",
	[HTTP_ADDR_LINK_LOCAL] = "link-local",
	[HTTP_ADDR_SHARED] = "shared (carrier-grade NAT)",
	[HTTP_ADDR_UNIQUE_LOCAL] = "unique-local",
	[HTTP_ADDR_MULTICAST] = "multicast",
	[HTTP_ADDR_DOCUMENTATION] = "documentation",
	[HTTP_ADDR_RESERVED] = "reserved",
};

const char *http_addr_class_name(enum http_addr_class c)
{
	return c < ELEMENTSOF(class_names) ? class_names[c] : "reserved";
}

struct v4_range {
	uint32_t net;
	unsigned bits;
	enum http_addr_class cls;
};

#define V4(a, b, c, d)                                   \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | \
	 ((uint32_t)(c) << 8) | (uint32_t)(d))

/* First match wins, so 0.0.0.0/32 comes before 0.0.0.0/8. */
static const struct v4_range v4_ranges[] = {
	{ V4(0, 0, 0, 0), 32, HTTP_ADDR_UNSPECIFIED },
	{ V4(0, 0, 0, 0), 8, HTTP_ADDR_RESERVED }, /* "this network" */
	{ V4(10, 0, 0, 0), 8, HTTP_ADDR_PRIVATE },
	{ V4(100, 64, 0, 0), 10, HTTP_ADDR_SHARED },
	{ V4(127, 0, 0, 0), 8, HTTP_ADDR_LOOPBACK },
	{ V4(169, 254, 0, 0), 16, HTTP_ADDR_LINK_LOCAL },
	{ V4(172, 16, 0, 0), 12, HTTP_ADDR_PRIVATE },
	{ V4(192, 0, 0, 0), 24, HTTP_ADDR_RESERVED }, /* IETF protocols */
	{ V4(192, 0, 2, 0), 24, HTTP_ADDR_DOCUMENTATION },
	{ V4(192, 88, 99, 0), 24, HTTP_ADDR_RESERVED }, /* 6to4 relay */
	{ V4(192, 168, 0, 0), 16, HTTP_ADDR_PRIVATE },
	{ V4(198, 18, 0, 0), 15, HTTP_ADDR_RESERVED }, /* benchmarking */
	{ V4(198, 51, 100, 0), 24, HTTP_ADDR_DOCUMENTATION },
	{ V4(203, 0, 113, 0), 24, HTTP_ADDR_DOCUMENTATION },
	{ V4(224, 0, 0, 0), 4, HTTP_ADDR_MULTICAST },
	{ V4(240, 0, 0, 0), 4, HTTP_ADDR_RESERVED }, /* with broadcast */
};

static enum http_addr_class classify_v4(const uint8_t *b)
{
	uint32_t a = V4(b[0], b[1], b[2], b[3]);

	for (size_t i = 0; i < ELEMENTSOF(v4_ranges); i++) {
		uint32_t mask = v4_ranges[i].bits == 32
					? 0xffffffffu
					: ~(0xffffffffu >> v4_ranges[i].bits);
		if ((a & mask) == v4_ranges[i].net)
			return v4_ranges[i].cls;
	}
	return HTTP_ADDR_PUBLIC;
}

/* True if the first bits of b equal those of prefix. */
static bool v6_in(const uint8_t *b, const uint8_t *prefix, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(b, prefix, whole) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (b[whole] & mask) == (prefix[whole] & mask);
}

static enum http_addr_class classify_v6(const uint8_t *b)
{
	static const uint8_t zero[16],
		loop[16] = { [15] = 1 },
		mapped[12] = { [10] = 0xff, [11] = 0xff },
		siit[12] = { [8] = 0xff, [9] = 0xff },
		nat64[12] = { 0, 0x64, 0xff, 0x9b },
		nat64_local[6] = { 0, 0x64, 0xff, 0x9b, 0, 1 },
		discard[8] = { 0x01 }, doc[4] = { 0x20, 0x01, 0x0d, 0xb8 },
		six_to_four[2] = { 0x20, 0x02 }, ula[1] = { 0xfc },
		ll[2] = { 0xfe, 0x80 }, site[2] = { 0xfe, 0xc0 },
		mcast[1] = { 0xff };

	if (memcmp(b, zero, 16) == 0)
		return HTTP_ADDR_UNSPECIFIED;
	if (memcmp(b, loop, 16) == 0)
		return HTTP_ADDR_LOOPBACK;
	/* IPv4 inside IPv6 goes where that IPv4 address goes. */
	if (v6_in(b, mapped, 96) || v6_in(b, siit, 96) || v6_in(b, nat64, 96))
		return classify_v4(b + 12);
	if (v6_in(b, six_to_four, 16))
		return classify_v4(b + 2);
	/* ::/96 held the deprecated IPv4-compatible addresses. */
	if (v6_in(b, zero, 96))
		return HTTP_ADDR_RESERVED;
	if (v6_in(b, nat64_local, 48))
		return HTTP_ADDR_PRIVATE;
	if (v6_in(b, discard, 64))
		return HTTP_ADDR_RESERVED;
	if (v6_in(b, doc, 32))
		return HTTP_ADDR_DOCUMENTATION;
	if (v6_in(b, ula, 7))
		return HTTP_ADDR_UNIQUE_LOCAL;
	if (v6_in(b, ll, 10))
		return HTTP_ADDR_LINK_LOCAL;
	if (v6_in(b, site, 10))
		return HTTP_ADDR_PRIVATE;
	if (v6_in(b, mcast, 8))
		return HTTP_ADDR_MULTICAST;
	return HTTP_ADDR_PUBLIC;
}

enum http_addr_class http_addr_classify(const struct http_addr *a)
{
	return a->family == AF_INET ? classify_v4(a->bytes)
				    : classify_v6(a->bytes);
}

int http_addr_parse(const char *text, struct http_addr *ret)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(text);
	struct in_addr v4;

	/* inet_aton() takes what getaddrinfo() takes for a numeric IPv4
	 * host: 2130706433, 0177.0.0.1, 0x7f.1, 127.1 all are 127.0.0.1. */
	if (inet_aton(text, &v4)) {
		*ret = (struct http_addr){ .family = AF_INET };
		memcpy(ret->bytes, &v4, 4);
		return 0;
	}
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, text + 1, len - 2);
		buf[len - 2] = '\0';
		text = buf;
	}
	struct in6_addr v6;
	if (inet_pton(AF_INET6, text, &v6) != 1)
		return -EINVAL;
	*ret = (struct http_addr){ .family = AF_INET6 };
	memcpy(ret->bytes, &v6, 16);
	return 0;
}

void http_addr_format(const struct http_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, a->bytes, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static void curlu_freep(CURLU **u)
{
	if (*u)
		curl_url_cleanup(*u);
}

static int scheme_of(CURLU *u, struct http_target *t, struct perm_why *why)
{
	char *s = NULL;

	if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK) {
		snprintf(why->msg, sizeof(why->msg), "the URL has no scheme");
		return -EINVAL;
	}
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	int r = 0;
	if (strcmp(s, "http") != 0 && strcmp(s, "https") != 0) {
		snprintf(why->msg, sizeof(why->msg),
			 "scheme '%.32s' refused: only http and https are "
			 "allowed",
			 s);
		r = -EACCES;
	} else {
		snprintf(t->scheme, sizeof(t->scheme), "%s", s);
	}
	curl_free(s);
	return r;
}

/* The host as it will be looked up: punycode, lower case, no trailing dot
 * (the resolver treats "a.com." as "a.com"). */
static int host_of(CURLU *u, struct http_target *t, struct perm_why *why)
{
	char *h = NULL, *zone = NULL;

	if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
		curl_free(zone);
		snprintf(why->msg, sizeof(why->msg),
			 "IPv6 zone ids are not allowed in URLs");
		return -EINVAL;
	}
	/* IDN: libcurl reads the name in the locale's encoding (cloved
	 * runs with a UTF-8 LC_CTYPE for this). */
	CURLUcode c = curl_url_get(u, CURLUPART_HOST, &h, CURLU_PUNYCODE);
	if (c != CURLUE_OK || !h || !*h) {
		curl_free(h);
		snprintf(why->msg, sizeof(why->msg),
			 "the URL has no usable host: %s",
			 c != CURLUE_OK ? curl_url_strerror(c) : "empty");
		return -EINVAL;
	}
	size_t len = strlen(h);
	if (len > 1 && h[len - 1] == '.')
		h[--len] = '\0';
	if (len == 0 || len >= sizeof(t->host)) {
		curl_free(h);
		snprintf(why->msg, sizeof(why->msg),
			 "the URL's host is too "
			 "long");
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		h[i] = (char)tolower((unsigned char)h[i]);

	t->is_ip = http_addr_parse(h, &t->ip) == 0;
	if (t->is_ip)
		http_addr_format(&t->ip, t->host, sizeof(t->host));
	else
		snprintf(t->host, sizeof(t->host), "%s", h);
	curl_free(h);
	return 0;
}

int http_url_parse(const char *url, struct http_target *ret,
		   struct perm_why *why)
{
	_cleanup_(curlu_freep) CURLU *u = curl_url();
	struct http_target t = { 0 };
	int r;

	if (!u) {
		snprintf(why->msg, sizeof(why->msg), "out of memory");
		return -ENOMEM;
	}
	/* Any scheme parses, so a refused one is named, not "malformed". */
	CURLUcode c =
		curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (c != CURLUE_OK) {
		snprintf(why->msg, sizeof(why->msg), "invalid URL: %s",
			 curl_url_strerror(c));
		return -EINVAL;
	}
	if ((r = scheme_of(u, &t, why)) < 0 || (r = host_of(u, &t, why)) < 0)
		return r;
	char *port = NULL;
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK)
		t.port = atoi(port);
	curl_free(port);
	*ret = t;
	return 0;
}

/* The text a policy entry for t's address has: "10.0.0.1", "[fd00::1]". */
static void addr_entry(const struct http_addr *a, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];

	http_addr_format(a, text, sizeof(text));
	snprintf(buf, len, a->family == AF_INET6 ? "[%s]" : "%s", text);
}

/* A name against one pattern: "*", "a.com" (itself), "*.a.com" (strict
 * subdomains). */
static bool name_matches(const char *pattern, const char *host)
{
	if (strcmp(pattern, "*") == 0 || strcmp(pattern, host) == 0)
		return true;
	if (strncmp(pattern, "*.", 2) != 0)
		return false;
	size_t pl = strlen(pattern + 1), hl = strlen(host);
	return hl > pl && strcmp(host + hl - pl, pattern + 1) == 0;
}

int http_policy_check_target(const struct perm_list *network,
			     const struct http_target *t, struct perm_why *why)
{
	if (t->is_ip) {
		struct http_addr a = t->ip;
		return http_policy_check_addr(network, t, &a, why);
	}
	for (size_t i = 0; i < network->n; i++)
		if (name_matches(network->v[i], t->host))
			return 0;
	snprintf(why->msg, sizeof(why->msg),
		 "HTTP to '%s' refused: the host is not in the policy's "
		 "network list",
		 t->host);
	return -EACCES;
}

static const char *article(enum http_addr_class c)
{
	return c == HTTP_ADDR_UNSPECIFIED || c == HTTP_ADDR_UNIQUE_LOCAL ? "an"
									 : "a";
}

int http_policy_check_addr(const struct perm_list *network,
			   const struct http_target *t,
			   const struct http_addr *addr, struct perm_why *why)
{
	enum http_addr_class cls = http_addr_classify(addr);
	char entry[INET6_ADDRSTRLEN + 2];

	addr_entry(addr, entry, sizeof(entry));
	/* Only an address entry opens a non-public address, never a name:
	 * any parent with a wildcard could otherwise hand a child the
	 * private network by naming a domain whose DNS it controls. */
	if (perm_list_contains(network, entry))
		return 0;
	if (cls == HTTP_ADDR_PUBLIC &&
	    (!t->is_ip || perm_list_contains(network, "*")))
		return 0;
	if (cls == HTTP_ADDR_PUBLIC)
		snprintf(why->msg, sizeof(why->msg),
			 "HTTP to %s refused: the address is not in the "
			 "policy's network list",
			 entry);
	else if (t->is_ip)
		snprintf(why->msg, sizeof(why->msg),
			 "HTTP to %s refused: %s %s address, allowed only "
			 "when the policy's network list names it",
			 entry, article(cls), http_addr_class_name(cls));
	else
		snprintf(why->msg, sizeof(why->msg),
			 "HTTP to '%s' refused: it resolves to %s, %s %s "
			 "address, allowed only when the policy's network "
			 "list names that address",
			 t->host, entry, article(cls),
			 http_addr_class_name(cls));
	return -EACCES;
}

int http_policy_check_method(const struct perm_list *methods,
			     const char *method, struct perm_why *why)
{
	if (perm_list_contains(methods, "*") ||
	    perm_list_contains(methods, method))
		return 0;
	snprintf(why->msg, sizeof(why->msg),
		 "HTTP method %.16s refused: not in the policy's "
		 "http_methods",
		 method);
	return -EACCES;
}

int http_policy_canonical_entry(const char *entry, char *buf, size_t len)
{
	struct http_addr a;
	size_t n = strlen(entry);

	if (n >= 2 && entry[0] == '[') {
		if (entry[n - 1] != ']' || http_addr_parse(entry, &a) < 0 ||
		    a.family != AF_INET6)
			return -EINVAL;
	} else {
		/* Only digits, dots and hex notation can be an IPv4 literal;
		 * "deadbeef.com" is a name. */
		for (const char *c = entry; *c; c++)
			if (!isxdigit((unsigned char)*c) && *c != '.' &&
			    *c != 'x' && *c != 'X')
				return 0;
		if (http_addr_parse(entry, &a) < 0 || a.family != AF_INET)
			return 0;
	}
	addr_entry(&a, buf, len);
	return 1;
}

bool http_policy_entry_covers(const char *parent, const char *child)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct http_addr a;

	if (strcmp(parent, child) == 0)
		return true;
	if (http_policy_canonical_entry(child, buf, sizeof(buf)) == 1) {
		/* "[...]" or a dotted quad: parse it back to classify. */
		if (http_addr_parse(child, &a) < 0)
			return false;
		return strcmp(parent, "*") == 0 &&
		       http_addr_classify(&a) == HTTP_ADDR_PUBLIC;
	}
	if (strcmp(parent, "*") == 0)
		return true;
	if (strncmp(parent, "*.", 2) != 0 || strcmp(child, "*") == 0)
		return false;
	size_t pl = strlen(parent + 1), cl = strlen(child);
	return cl > pl && strcmp(child + cl - pl, parent + 1) == 0;
}
