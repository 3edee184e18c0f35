/* SPDX-License-Identifier: MIT */
/*
 * Record and replay (record.h): the recorder's entries, the hooks that
 * fill them from the dispatch path, and the replay that serves them back
 * in order, per agent name, refusing the first call that diverges.
 */
#include "record.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "caller.h"
#include "hub.h"
#include "kernel.h"
#include "macro.h"
#include "policy.h"
#include "proto.h"
#include "request.h"

struct recorder {
	bool recording;
	bool include[256];
	unsigned max_entries;
	/* Owned copy of filter_agents; NULL records every agent. */
	json_t *filter;
	json_t *entries;
	size_t bytes;
	bool truncated;
	int64_t seq;
	char last_path[PATH_MAX];

	bool replaying;
	/* name -> {"entries": [...], "next": n, "diverged": bool} */
	json_t *replay;
	size_t replay_total, replay_served;
	bool diverged;
	char last_error[512];
};

int record_init(struct hub *h)
{
	h->rec = calloc(1, sizeof(*h->rec));
	return h->rec ? 0 : -ENOMEM;
}

void record_free(struct hub *h)
{
	struct recorder *r = h->rec;

	if (h->saving) {
		/* The ring is gone, so its write will never complete. */
		close(h->saving->fd);
		free(h->saving->buf);
		free(h->saving);
		h->saving = NULL;
	}
	if (!r)
		return;
	json_decref(r->filter);
	json_decref(r->entries);
	json_decref(r->replay);
	free(r);
	h->rec = NULL;
}

static bool replayable(uint8_t op)
{
	return op == OP_EXEC || op == OP_THINK || op == OP_HTTP;
}

/* The calling agent (recording and replay are about agents only). */
static struct agent *req_agent(struct kernel *k, struct request *req)
{
	return policy_caller_agent(k, request_caller(req));
}

static bool filter_matches(json_t *filter, const struct agent *a)
{
	json_t *v;
	size_t i;

	if (!filter)
		return true;
	json_array_foreach(filter, i, v) {
		if (json_is_integer(v) && json_integer_value(v) == agent_id(a))
			return true;
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), agent_name(a)) == 0)
			return true;
	}
	return false;
}

bool record_wants(struct kernel *k, struct request *req, json_t *args)
{
	struct recorder *r = k->hub->rec;
	struct agent *a;

	if (!r || !r->recording || !r->include[req->opcode])
		return false;
	a = req_agent(k, req);
	return a && filter_matches(r->filter, a);
}

/* The request as matched and recorded: without the async plumbing. */
static json_t *payload_of(json_t *args)
{
	json_t *p = json_deep_copy(args);

	json_object_del(p, "async");
	json_object_del(p, "request_id");
	return p;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

json_t *record_begin(struct kernel *k, struct request *req, json_t *args)
{
	return json_pack("{s:o, s:I}", "payload", payload_of(args), "t0",
			 (json_int_t)now_us());
}

static json_t *iso_now(void)
{
	struct timespec ts;
	char day[32], buf[48];
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm) ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_null();
	snprintf(buf, sizeof(buf), "%s.%03ldZ", day, ts.tv_nsec / 1000000);
	return json_string(buf);
}

void record_done(struct kernel *k, struct request *req, json_t *note,
		 const uint8_t *data, size_t len)
{
	struct recorder *r = k->hub->rec;
	struct agent *a = req_agent(k, req);
	json_t *response, *entry;
	size_t size;

	if (!r || !r->recording || !a)
		return;
	if (json_array_size(r->entries) >= r->max_entries ||
	    r->bytes + len > RECORD_MAX_BYTES) {
		r->truncated = true;
		return;
	}
	response = request_reply_decode(req, data, len);
	entry = json_pack(
		"{s:I, s:o, s:I, s:s, s:i, s:s, s:O, s:o, s:I, s:b}",
		"sequence_id", (json_int_t)++r->seq, "timestamp", iso_now(),
		"agent_id", (json_int_t)agent_id(a), "agent_name",
		agent_name(a), "opcode", req->opcode, "opcode_name",
		proto_opcode_name(req->opcode), "payload",
		json_object_get(note, "payload"), "response",
		response ? response : json_null(), "duration_us",
		(json_int_t)(now_us() -
			     json_integer_value(json_object_get(note, "t0"))),
		"success",
		response &&
			!json_is_false(json_object_get(response, "success")));
	if (!entry)
		return;
	size = json_dumpb(entry, NULL, 0, JSON_COMPACT);
	r->bytes += size;
	json_array_append_new(r->entries, entry);
}

int record_start(struct hub *h, const struct record_opts *o)
{
	struct recorder *r = h->rec;

	if (r->recording)
		return -EBUSY;
	json_decref(r->filter);
	json_decref(r->entries);
	memset(r->include, 0, sizeof(r->include));
	r->include[OP_EXEC] = o->include_exec;
	r->include[OP_THINK] = o->include_think;
	r->include[OP_HTTP] = o->include_http;
	r->max_entries = o->max_entries;
	r->filter = o->filter_agents ? json_deep_copy(o->filter_agents) : NULL;
	r->entries = json_array();
	r->bytes = 0;
	r->truncated = false;
	r->seq = 0;
	r->recording = true;
	return r->entries ? 0 : -ENOMEM;
}

bool record_active(struct hub *h)
{
	return h->rec->recording;
}

/* The entries after since_id (all: 0), as JSON Lines. */
static char *entries_lines(json_t *entries, int64_t since_id, size_t *ret_len)
{
	size_t cap = 4096, len = 0, i;
	char *buf = malloc(cap);
	json_t *e;

	json_array_foreach(entries, i, e) {
		size_t n;

		if (json_integer_value(json_object_get(e, "sequence_id")) <=
		    since_id)
			continue;
		n = json_dumpb(e, NULL, 0, JSON_COMPACT);
		while (buf && len + n + 2 > cap) {
			char *p = realloc(buf, cap * 2);

			if (!p)
				free(buf);
			buf = p;
			cap *= 2;
		}
		if (!buf)
			return NULL;
		len += json_dumpb(e, buf + len, n, JSON_COMPACT);
		buf[len++] = '\n';
	}
	if (buf)
		buf[len] = '\0';
	*ret_len = len;
	return buf;
}

int record_stop(struct hub *h, char **ret_lines, size_t *ret_len,
		size_t *ret_count)
{
	struct recorder *r = h->rec;
	char *lines;

	if (!r->recording)
		return -EINVAL;
	lines = entries_lines(r->entries, 0, ret_len);
	if (!lines)
		return -ENOMEM;
	r->recording = false;
	*ret_lines = lines;
	*ret_count = json_array_size(r->entries);
	return 0;
}

const char *record_last_path(struct hub *h)
{
	return h->rec->last_path;
}

void record_set_last_path(struct hub *h, const char *path)
{
	snprintf(h->rec->last_path, sizeof(h->rec->last_path), "%s", path);
}

json_t *record_status(struct hub *h, bool export_data, bool entries,
		      unsigned limit, int64_t since_id)
{
	struct recorder *r = h->rec;
	size_t n = json_array_size(r->entries), i, len;
	json_t *o, *list, *e;

	o = json_pack("{s:b, s:b, s:i, s:I, s:b, s:b, s:b, s:b, s:s}",
		      "recording", r->recording, "paused", 0, "entry_count",
		      (int)n, "last_sequence_id", (json_int_t)r->seq,
		      "include_exec", r->include[OP_EXEC], "include_think",
		      r->include[OP_THINK], "include_http", r->include[OP_HTTP],
		      "truncated", r->truncated, "path", r->last_path);
	if (export_data) {
		_cleanup_free_ char *lines = entries_lines(r->entries, 0, &len);

		json_object_set_new(o, "recording_data",
				    lines ? json_stringn(lines, len)
					  : json_null());
	}
	if (entries) {
		list = json_array();
		json_array_foreach(r->entries, i, e) {
			if (json_array_size(list) >= limit)
				break;
			if (json_integer_value(json_object_get(
				    e, "sequence_id")) > since_id)
				json_array_append(list, e);
		}
		json_object_set_new(o, "entries", list);
	}
	return o;
}

/* --- replay --- */

/* Parses JSON Lines (or takes an array) into a list of entries. */
static json_t *load_entries(json_t *data, char *err, size_t errlen)
{
	const char *text = json_string_value(data), *line, *end;
	json_t *list;
	unsigned n = 0;

	if (json_is_array(data))
		return json_incref(data);
	list = json_array();
	for (line = text; line && *line; line = end ? end + 1 : NULL) {
		json_error_t jerr;
		json_t *e;

		end = strchr(line, '\n');
		n++;
		if (line[strspn(line, " \t\r")] == '\n' ||
		    line[strspn(line, " \t\r")] == '\0')
			continue;
		e = json_loadb(line, end ? (size_t)(end - line) : strlen(line),
			       0, &jerr);
		if (!json_is_object(e)) {
			snprintf(err, errlen, "recording_data line %u: %s", n,
				 e ? "not a JSON object" : jerr.text);
			json_decref(e);
			json_decref(list);
			return NULL;
		}
		json_array_append_new(list, e);
	}
	return list;
}

static bool name_wanted(json_t *names, const char *name)
{
	json_t *v;
	size_t i;

	if (!names)
		return true;
	json_array_foreach(names, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

/* Groups entries by agent name, in sequence order. */
static json_t *group_entries(json_t *list, json_t *names, size_t *ret_total)
{
	json_t *by_name = json_object(), *e;
	size_t i;

	*ret_total = 0;
	json_array_foreach(list, i, e) {
		const char *name =
			json_string_value(json_object_get(e, "agent_name"));
		json_t *op = json_object_get(e, "opcode"), *slot;

		if (!name || !json_is_integer(op) ||
		    !replayable((uint8_t)json_integer_value(op)) ||
		    !name_wanted(names, name))
			continue;
		slot = json_object_get(by_name, name);
		if (!slot) {
			slot = json_pack("{s:[], s:i, s:b}", "entries", "next",
					 0, "diverged", 0);
			json_object_set_new(by_name, name, slot);
		}
		json_array_append(json_object_get(slot, "entries"), e);
		(*ret_total)++;
	}
	return by_name;
}

int replay_start(struct hub *h, json_t *data, json_t *names, char *err,
		 size_t errlen)
{
	struct recorder *r = h->rec;
	json_t *list = load_entries(data, err, errlen), *by_name;
	size_t total;

	if (!list)
		return -EINVAL;
	by_name = group_entries(list, names, &total);
	json_decref(list);
	if (total == 0) {
		json_decref(by_name);
		snprintf(err, errlen,
			 "the recording has no EXEC, THINK or HTTP entries%s",
			 names ? " of the agents named" : "");
		return -EINVAL;
	}
	replay_stop(h);
	r->replay = by_name;
	r->replay_total = total;
	r->replay_served = 0;
	r->diverged = false;
	r->last_error[0] = '\0';
	r->replaying = true;
	return 0;
}

void replay_stop(struct hub *h)
{
	struct recorder *r = h->rec;

	json_decref(r->replay);
	r->replay = NULL;
	r->replaying = false;
}

static json_t *call_json(uint8_t op, json_t *payload)
{
	const char *name = proto_opcode_name(op);

	return json_pack("{s:s, s:O}", "opcode_name", name ? name : "?",
			 "payload", payload);
}

/* Refuses req: the agent's calls no longer follow the recording. */
static void diverge(struct recorder *r, struct request *req, const char *name,
		    json_t *slot, json_t *expected, json_t *payload)
{
	json_int_t next = json_integer_value(json_object_get(slot, "next"));
	json_t *detail = json_pack(
		"{s:s, s:I, s:o, s:o}", "agent", name, "index", next + 1,
		"expected",
		expected
			? call_json((uint8_t)json_integer_value(json_object_get(
					    expected, "opcode")),
				    json_object_get(expected, "payload"))
			: json_null(),
		"got", call_json(req->opcode, payload));
	char *exp = expected ? json_dumps(json_object_get(detail, "expected"),
					  JSON_COMPACT)
			     : NULL;
	char *got = json_dumps(json_object_get(detail, "got"), JSON_COMPACT);

	json_object_set_new(slot, "diverged", json_true());
	r->diverged = true;
	snprintf(r->last_error, sizeof(r->last_error),
		 "replay diverged at call %lld of agent '%s': expected %.200s, "
		 "got %.200s",
		 (long long)(next + 1), name,
		 exp ? exp : "no more calls (the recording ends here)",
		 got ? got : "?");
	free(exp);
	free(got);
	request_reply_error_with(req, -EILSEQ,
				 json_pack("{s:o}", "divergence", detail), "%s",
				 r->last_error);
}

bool record_replay(struct kernel *k, struct request *req, json_t *args)
{
	struct recorder *r = k->hub->rec;
	struct agent *a;
	json_t *slot, *list, *expected, *payload;
	json_int_t next;

	if (!r || !r->replaying || !replayable(req->opcode))
		return false;
	a = req_agent(k, req);
	slot = a ? json_object_get(r->replay, agent_name(a)) : NULL;
	if (!slot)
		return false;
	payload = payload_of(args);
	list = json_object_get(slot, "entries");
	next = json_integer_value(json_object_get(slot, "next"));
	expected = json_array_get(list, (size_t)next);
	if (json_is_true(json_object_get(slot, "diverged")) || !expected ||
	    json_integer_value(json_object_get(expected, "opcode")) !=
		    req->opcode ||
	    !json_equal(json_object_get(expected, "payload"), payload)) {
		diverge(r, req, agent_name(a), slot, expected, payload);
		json_decref(payload);
		return true;
	}
	json_decref(payload);
	json_object_set_new(slot, "next", json_integer(next + 1));
	r->replay_served++;
	request_reply_json(
		req, json_deep_copy(json_object_get(expected, "response")));
	return true;
}

json_t *replay_status(struct hub *h)
{
	struct recorder *r = h->rec;
	const char *state = "idle", *name;
	json_t *agents = json_object(), *slot;

	if (r->replay)
		state = r->diverged			      ? "diverged"
			: r->replay_served == r->replay_total ? "completed"
							      : "replaying";
	json_object_foreach(r->replay, name, slot)
		json_object_set_new(
			agents, name,
			json_pack("{s:i, s:O, s:O}", "total",
				  (int)json_array_size(
					  json_object_get(slot, "entries")),
				  "replayed", json_object_get(slot, "next"),
				  "diverged",
				  json_object_get(slot, "diverged")));
	return json_pack(
		"{s:s, s:b, s:i, s:i, s:i, s:i, s:s, s:i, s:o}", "state", state,
		"active", r->replaying, "total_entries", (int)r->replay_total,
		"current_entry", (int)r->replay_served, "entries_replayed",
		(int)r->replay_served, "entries_skipped", 0, "last_error",
		r->last_error, "progress_percent",
		r->replay_total
			? (int)(100 * r->replay_served / r->replay_total)
			: 0,
		"agents", agents);
}
