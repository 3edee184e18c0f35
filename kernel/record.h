/* SPDX-License-Identifier: MIT */
/*
 * Record and replay. While recording, the requests and replies of agents'
 * EXEC calls (THINK and HTTP too once the kernel has them) are kept as
 * entries — {sequence_id, timestamp, agent_id, agent_name, opcode,
 * opcode_name, payload, response, duration_us, success}, the original's
 * fields — and RECORD_STOP writes them as JSON Lines to
 * <state_dir>/recordings/. A replay serves those responses instead of
 * running the calls: for each agent *name* in the recording, its calls
 * must come in the recorded order with the recorded content; the first
 * one that does not is refused with EILSEQ and a description of the
 * divergence, and that agent's replay stops there.
 *
 * Everything is in memory and bounded (RECORD_MAX_ENTRIES entries,
 * RECORD_MAX_BYTES of JSON).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>

#include "loop.h"

struct kernel;
struct request;
struct hub;

#define RECORD_DEFAULT_ENTRIES 10000
#define RECORD_MAX_ENTRIES     100000
#define RECORD_MAX_BYTES       (32 * 1024 * 1024)
#define RECORD_MAX_FILTER      256

/* A recording being written to its file by RECORD_STOP (one at a time:
 * hub->saving). */
struct rec_save {
	struct loop_op op;
	struct hub *hub;
	struct request *req;
	int fd;
	char *buf;
	size_t len, off, count;
	char path[PATH_MAX];
};

int record_init(struct hub *h);
/* After the loop is gone: frees everything, a save in progress too. */
void record_free(struct hub *h);

/* --- the dispatch side (hub-request.c) --- */

/* True when req (args) is to be recorded. */
bool record_wants(struct kernel *k, struct request *req, json_t *args);
/* What hub_request_done() needs later: the payload and the start time. */
json_t *record_begin(struct kernel *k, struct request *req, json_t *args);
/* req has its reply: appends the entry. */
void record_done(struct kernel *k, struct request *req, json_t *note,
		 const uint8_t *data, size_t len);
/* True when a replay answered req (from the recording, or EILSEQ). */
bool record_replay(struct kernel *k, struct request *req, json_t *args);

/* --- the syscalls (sys-record.c) --- */

struct record_opts {
	bool include_think, include_http, include_exec;
	unsigned max_entries;
	/* Agent ids and names (NULL: every agent). Borrowed for the call. */
	json_t *filter_agents;
};

/* -EBUSY when a recording runs already. */
int record_start(struct hub *h, const struct record_opts *o);
bool record_active(struct hub *h);
/* Stops; *ret_lines is the JSON Lines text (malloc'd), *ret_count the
 * number of entries. -EINVAL when not recording. */
int record_stop(struct hub *h, char **ret_lines, size_t *ret_len,
		size_t *ret_count);
/* RECORD_STATUS's reply fields. */
json_t *record_status(struct hub *h, bool export_data, bool entries,
		      unsigned limit, int64_t since_id);
/* The path the last recording was saved to (may be ""). */
const char *record_last_path(struct hub *h);
void record_set_last_path(struct hub *h, const char *path);

/* Loads a recording (JSON Lines text or an array of entries) and starts
 * replaying it; names (may be NULL) limits it to those agents. On failure
 * err says why. */
int replay_start(struct hub *h, json_t *data, json_t *names, char *err,
		 size_t errlen);
void replay_stop(struct hub *h);
json_t *replay_status(struct hub *h);
