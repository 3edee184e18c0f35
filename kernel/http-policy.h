/* SPDX-License-Identifier: MIT */
/*
 * Where HTTP may go: the checks the HTTP syscall makes before a request
 * leaves and again on the address it connects to. URLs are parsed by
 * libcurl's URL API only (never by hand), so the host checked is the host
 * libcurl connects to: userinfo, ports, fragments, queries, backslashes,
 * IDN (turned into punycode), upper case and trailing dots are dealt with
 * by the parser or normalized here. IP literals in any form the resolver
 * accepts (decimal 2130706433, octal 0177.0.0.1, hex 0x7f000001, IPv6,
 * IPv4-mapped IPv6) are turned into addresses and classified.
 *
 * The rule (docs/permissions.md): a host must match one of the policy's
 * network patterns ("api.example.com", "*.example.com", "*"); an address
 * that is not public (loopback, private, link-local, CGNAT, unique-local,
 * unspecified, multicast, reserved ...) is allowed only when the policy
 * has that address as an entry ("127.0.0.1", "[fd00::1]") — never through
 * a name or a wildcard. The address check runs on the address libcurl
 * actually connects to, after DNS, so a name that resolves to 127.0.0.1
 * is refused like the literal.
 *
 * Pure: no I/O, no state. Errors: -EINVAL (not a usable URL) or -EACCES
 * (refused), with the reason in a perm_why.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct perm_list;
struct perm_why;

/* Longest host name (DNS limit) plus room for an IPv6 literal. */
#define HTTP_HOST_MAX 256

enum http_addr_class {
	HTTP_ADDR_PUBLIC,
	HTTP_ADDR_UNSPECIFIED,
	HTTP_ADDR_LOOPBACK,
	HTTP_ADDR_PRIVATE,
	HTTP_ADDR_LINK_LOCAL,
	HTTP_ADDR_SHARED, /* 100.64.0.0/10, carrier-grade NAT */
	HTTP_ADDR_UNIQUE_LOCAL,
	HTTP_ADDR_MULTICAST,
	HTTP_ADDR_DOCUMENTATION,
	HTTP_ADDR_RESERVED,
};

struct http_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t bytes[16];
};

/* What a URL names, as libcurl will use it. */
struct http_target {
	/* "http" or "https". */
	char scheme[8];
	/* Lower case, punycode, without a trailing dot; an IPv6 literal
	 * without brackets; an IPv4 literal in dotted-quad form. */
	char host[HTTP_HOST_MAX];
	bool is_ip;
	struct http_addr ip;
	/* Explicit, or the scheme's default. */
	int port;
};

/* "loopback", "private", ... for messages. */
const char *http_addr_class_name(enum http_addr_class c);

/* The class of an address. IPv4 embedded in IPv6 (mapped ::ffff:0:0/96,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) is classified as that IPv4. */
enum http_addr_class http_addr_classify(const struct http_addr *a);

/*
 * Parses an IP literal the way the resolver would: IPv4 in any inet_aton()
 * form, IPv6 with or without brackets. 0, or -EINVAL if text is no IP
 * literal.
 */
int http_addr_parse(const char *text, struct http_addr *ret);

/* Canonical text (inet_ntop), IPv6 without brackets. */
void http_addr_format(const struct http_addr *a, char *buf, size_t len);

/*
 * Parses url with libcurl's URL API (a scheme is required) into *ret.
 * -EINVAL: not a URL libcurl accepts, or a host it cannot express;
 * -EACCES: a scheme other than http/https. why says which.
 */
int http_url_parse(const char *url, struct http_target *ret,
		   struct perm_why *why);

/*
 * May a request go to t under the network patterns? 0, or -EACCES with
 * the reason. For an IP literal this is the whole address check; for a
 * name, http_policy_check_addr() must still pass on the address it
 * resolves to.
 */
int http_policy_check_target(const struct perm_list *network,
			     const struct http_target *t, struct perm_why *why);

/*
 * May the connection to t go to addr (after DNS)? Public addresses are
 * allowed (the name was checked already); other classes only when the
 * policy has addr as an entry. 0 or -EACCES with why.
 */
int http_policy_check_addr(const struct perm_list *network,
			   const struct http_target *t,
			   const struct http_addr *addr, struct perm_why *why);

/* May method (upper case) be used under the http_methods patterns? 0 or
 * -EACCES with why. */
int http_policy_check_method(const struct perm_list *methods,
			     const char *method, struct perm_why *why);

/*
 * perm_policy_within()'s rule for network entries: does parent cover
 * child? Names as patterns ("*" covers every name, "*.a.com" its
 * subdomains); an address entry only by itself, or by "*" when the
 * address is public — a non-public address must be handed down by name.
 */
bool http_policy_entry_covers(const char *parent, const char *child);

/*
 * Canonical form of a policy network entry that is an IP literal: IPv4
 * in any inet_aton() form -> dotted quad, "[v6]" -> "[canonical v6]".
 * 1 with buf filled when entry is such a literal, 0 when it is not (a
 * domain pattern), -EINVAL for a bracketed entry that is no IPv6 address.
 */
int http_policy_canonical_entry(const char *entry, char *buf, size_t len);
