/* SPDX-License-Identifier: MIT */
/*
 * The key-value store in the hub's database (table kv). A key lives in a
 * scope — "global" (owner ""), "agent" (owner: the agent's identity) or
 * "session" (owner: the identity of the root of the agent's tree) — and
 * holds a JSON value of at most STORE_MAX_VALUE bytes, a version, an
 * optional expiry and a persist flag. Versions come from one counter for
 * the whole store and only grow, even across deletions and restarts, so a
 * version names exactly one write and compare-and-swap has no ABA.
 *
 * Limits per (scope, owner): STORE_MAX_KEYS keys and STORE_MAX_BYTES of
 * values (-ENOSPC). Reads never see expired keys; a sweep removes them.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub;

#define STORE_MAX_VALUE (64 * 1024)
#define STORE_MAX_KEY	512
#define STORE_MAX_KEYS	10000
#define STORE_MAX_BYTES (64ll * 1024 * 1024)
#define STORE_MAX_LIST	10000

struct store_key {
	const char *scope;
	const char *owner;
	const char *key;
};

/* A stored key as read back; value is malloc'd (NULL when absent). */
struct store_row {
	int64_t version;
	/* Epoch ms, 0 for none. */
	int64_t expires_at;
	bool persist;
	char *value;
};

void store_row_done(struct store_row *row);

struct store_write {
	const char *value;
	size_t len;
	/* 0: no expiry. */
	int64_t ttl_ms;
	bool persist;
	/* -1: unconditional; 0: only if absent; n: only if at version n. */
	int64_t if_version;
	uint32_t by;
};

/*
 * Writes k. On success ret has the new version and expiry. -ESTALE: the
 * if_version condition failed, and cur holds the current row (version 0
 * when absent). -ENOSPC: the owner's limits.
 */
int store_put(struct hub *h, const struct store_key *k,
	      const struct store_write *w, struct store_row *ret,
	      struct store_row *cur);
/* Reads k into ret; -ENOENT when absent or expired. */
int store_get(struct hub *h, const struct store_key *k, struct store_row *ret);
/* Deletes k if it exists (and, with if_version >= 0, is at that version);
 * returns 1 when deleted, 0 when absent, -ESTALE (cur set) otherwise. */
int store_del(struct hub *h, const struct store_key *k, int64_t if_version,
	      struct store_row *cur);
/* Appends {key, scope, version, expires_at} for the live keys of
 * (scope, owner) starting with prefix, in key order, at most limit. */
int store_keys(struct hub *h, const char *scope, const char *owner,
	       const char *prefix, unsigned limit, json_t *items);

/* The non-persistent keys of (scope, owner) go (their owner ended). */
int store_forget(struct hub *h, const char *scope, const char *owner);
/* The agent and session keys of from become to's (REGISTER). */
int store_rename(struct hub *h, const char *from, const char *to);
/* Removes up to 1000 expired keys; returns how many. */
int store_sweep(struct hub *h);
/* At start: drops "#<id>" owners of a previous run, finds the version
 * floor. */
int store_init(struct hub *h);
