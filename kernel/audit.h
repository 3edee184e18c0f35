/* SPDX-License-Identifier: MIT */
/*
 * The audit log: a durable record (table audit) of permission denials,
 * SET_PERMS, agent lifecycle changes and operator actions, and — when
 * switched on — IPC, state-store, network and every syscall. Categories
 * and field names are the original's (SECURITY, AGENT_LIFECYCLE, IPC,
 * STATE_STORE, RESOURCE, SYSCALL, NETWORK, WORLD), plus OPERATOR for what
 * operators do. SET_AUDIT_CONFIG chooses categories and retention (entry
 * count and age); the configuration is kept in the settings table.
 *
 * Entries are written synchronously, one small insert each; old ones are
 * removed in bounded batches by the hub's sweep.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct kernel;
struct caller;
struct hub;

enum audit_category {
	AUDIT_SECURITY,
	AUDIT_LIFECYCLE,
	AUDIT_IPC,
	AUDIT_STATE,
	AUDIT_RESOURCE,
	AUDIT_SYSCALL,
	AUDIT_NETWORK,
	AUDIT_WORLD,
	AUDIT_OPERATOR,
	AUDIT_NCATEGORIES,
};

#define AUDIT_DEFAULT_MAX_ENTRIES 100000
#define AUDIT_MAX_MAX_ENTRIES	  10000000
#define AUDIT_DEFAULT_RETENTION_S (30 * 86400)
#define AUDIT_MAX_LIMIT		  10000

struct audit_config {
	int64_t max_entries;
	/* Seconds; 0 keeps entries regardless of age. */
	int64_t retention_s;
	bool enabled[AUDIT_NCATEGORIES];
};

/* "SECURITY", ... */
const char *audit_category_name(enum audit_category c);
/* Case-insensitive; -EINVAL for an unknown name. */
int audit_category_parse(const char *name, enum audit_category *ret);
/* The SET_AUDIT_CONFIG field of a category: "log_security", ... */
const char *audit_category_field(enum audit_category c);

/* Loads the configuration (defaults when none is saved). */
int audit_init(struct hub *h);
const struct audit_config *audit_config(struct hub *h);
/* Saves and applies cfg. */
int audit_set_config(struct hub *h, const struct audit_config *cfg);
json_t *audit_config_json(const struct audit_config *cfg);

bool audit_enabled(struct kernel *k, enum audit_category cat);

/*
 * Records an entry when cat is enabled (force: regardless). c is who acted
 * (NULL: the kernel); agent_id whom it concerns (0: nobody in particular).
 * Takes ownership of details (NULL: {}). Returns 0 or -errno; a failed
 * write is logged once here (the callers are hooks with nobody to tell).
 */
int audit_record(struct kernel *k, enum audit_category cat,
		 const char *event_type, const struct caller *c,
		 uint32_t agent_id, bool success, json_t *details, bool force);

/* A query of GET_AUDIT_LOG. */
struct audit_query {
	int category;		    /* -1: any */
	int64_t agent_id;	    /* 0: any */
	int64_t since_id;	    /* 0: the latest `limit` entries */
	int64_t since_ms, until_ms; /* 0: unbounded */
	const char *event_type;	    /* NULL: any */
	/* Agents see only entries about or by themselves. */
	uint32_t only_id;
	unsigned limit;
};

/* Appends matching entries, oldest first, to out; returns how many. */
int audit_query(struct hub *h, const struct audit_query *q, json_t *out);

/* Retention: removes at most a batch of entries beyond max_entries or
 * older than retention_s; returns how many. */
int audit_trim(struct hub *h);
