/* SPDX-License-Identifier: MIT */
/*
 * The record and replay syscalls (operators only): RECORD_START,
 * RECORD_STOP (which saves the recording as JSON Lines under
 * <state_dir>/recordings/, written through the ring), RECORD_STATUS,
 * REPLAY_START and REPLAY_STATUS. docs/protocol.md has the fields.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "caller.h"
#include "dispatch.h"
#include "hub.h"
#include "jsonreq.h"
#include "kernel.h"
#include "loop.h"
#include "macro.h"
#include "policy.h"
#include "record.h"
#include "request.h"

/* perm_check() has required the unrestricted level already; this keeps
 * the rule true for anyone calling the handlers directly. */
static bool operator_only(struct request *req, const char *what)
{
	if (policy_is_unrestricted(request_kernel(req), request_caller(req)))
		return true;
	request_reply_error(req, -EACCES,
			    "only callers with the unrestricted level may %s",
			    what);
	return false;
}

void sys_record_start(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	struct record_opts o = { true, true, true, RECORD_DEFAULT_ENTRIES,
				 NULL };
	int64_t max = RECORD_DEFAULT_ENTRIES;
	struct jr_err err;
	json_t *v;
	size_t i;
	int r;

	if (!operator_only(req, "record"))
		return;
	if (jr_bool(args, "include_think", &o.include_think, &err) < 0 ||
	    jr_bool(args, "include_http", &o.include_http, &err) < 0 ||
	    jr_bool(args, "include_exec", &o.include_exec, &err) < 0 ||
	    jr_int(args, "max_entries", false, 1, RECORD_MAX_ENTRIES, &max,
		   &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	o.max_entries = (unsigned)max;
	o.filter_agents = json_object_get(args, "filter_agents");
	if (json_is_null(o.filter_agents))
		o.filter_agents = NULL;
	if (o.filter_agents &&
	    (!json_is_array(o.filter_agents) ||
	     json_array_size(o.filter_agents) > RECORD_MAX_FILTER)) {
		request_reply_error(req, -EINVAL,
				    "field 'filter_agents' must be an array of "
				    "at most %d agent ids or names",
				    RECORD_MAX_FILTER);
		return;
	}
	json_array_foreach(o.filter_agents, i, v)
		if (!json_is_integer(v) && !json_is_string(v)) {
			request_reply_error(
				req, -EINVAL,
				"field 'filter_agents': entries are "
				"agent ids or names");
			return;
		}
	r = record_start(k->hub, &o);
	if (r < 0) {
		request_reply_error(req, r,
				    r == -EBUSY ? "already recording"
						: "out of memory");
		return;
	}
	request_reply_json(req, json_pack("{s:b}", "recording", 1));
}

static void save_done(struct rec_save *s, int err)
{
	struct hub *h = s->hub;

	close(s->fd);
	if (err < 0) {
		(void)unlink(s->path);
		request_reply_error(s->req, err, "writing %s: %s", s->path,
				    strerror(-err));
	} else {
		record_set_last_path(h, s->path);
		request_reply_json(s->req,
				   json_pack("{s:b, s:I, s:s}", "recording", 0,
					     "entries_recorded",
					     (json_int_t)s->count, "path",
					     s->path));
	}
	h->saving = NULL;
	free(s->buf);
	free(s);
}

static void save_written(struct loop_op *op, int res, uint32_t flags)
{
	struct rec_save *s = container_of(op, struct rec_save, op);
	int r;

	if (res <= 0) {
		save_done(s, res < 0 ? res : -EIO);
		return;
	}
	s->off += (size_t)res;
	if (s->off == s->len) {
		save_done(s, 0);
		return;
	}
	r = loop_write(s->hub->k->loop, &s->op, s->fd, s->buf + s->off,
		       s->len - s->off, (int64_t)s->off);
	if (r < 0)
		save_done(s, r);
}

/* <state_dir>/recordings/rec-<UTC time>-<pid>-<n>.jsonl, created 0600. */
static int save_open(struct kernel *k, char *path, size_t size)
{
	static unsigned n;
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	int fd;

	if ((size_t)snprintf(path, size, "%s/recordings", k->cfg.state_dir) >=
	    size)
		return -ENAMETOOLONG;
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return negative_errno();
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&t, &tm));
	if ((size_t)snprintf(path, size, "%s/recordings/rec-%s-%d-%u.jsonl",
			     k->cfg.state_dir, stamp, (int)getpid(),
			     ++n) >= size)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return fd < 0 ? negative_errno() : fd;
}

void sys_record_stop(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	struct rec_save *s;
	int r;

	if (!operator_only(req, "record"))
		return;
	if (k->hub->saving) {
		request_reply_error(req, -EBUSY,
				    "the last recording is still being saved");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	r = record_stop(k->hub, &s->buf, &s->len, &s->count);
	if (r == 0)
		r = s->fd = save_open(k, s->path, sizeof(s->path));
	if (r >= 0) {
		s->hub = k->hub;
		s->req = req;
		s->op.fn = save_written;
		k->hub->saving = s;
		if (s->len == 0) {
			save_done(s, 0);
			return;
		}
		r = loop_write(k->loop, &s->op, s->fd, s->buf, s->len, 0);
		if (r < 0)
			save_done(s, r);
		return;
	}
	request_reply_error(req, r,
			    r == -EINVAL ? "not recording"
					 : "cannot save the recording: %s",
			    strerror(-r));
	free(s->buf);
	free(s);
}

void sys_record_status(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	bool export_data = false, entries = false;
	int64_t limit = 100, since = 0;
	struct jr_err err;

	if (!operator_only(req, "read recordings"))
		return;
	if (jr_bool(args, "export", &export_data, &err) < 0 ||
	    jr_bool(args, "get_entries", &entries, &err) < 0 ||
	    jr_int(args, "limit", false, 1, RECORD_MAX_ENTRIES, &limit, &err) <
		    0 ||
	    jr_int(args, "since_id", false, 0, INT64_MAX, &since, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	request_reply_json(req, record_status(k->hub, export_data, entries,
					      (unsigned)limit, since));
}

/* REPLAY_START's "path": a file of JSON Lines, read whole (bounded). */
static json_t *read_recording(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	json_t *s;

	if (!f) {
		snprintf(err, errlen, "cannot open %.200s: %s", path,
			 strerror(errno));
		return NULL;
	}
	buf = malloc(RECORD_MAX_BYTES + 1);
	n = buf ? fread(buf, 1, RECORD_MAX_BYTES + 1, f) : 0;
	fclose(f);
	if (!buf || n > RECORD_MAX_BYTES) {
		snprintf(err, errlen, "%.200s: %s", path,
			 buf ? "larger than 32 MiB" : "out of memory");
		free(buf);
		return NULL;
	}
	s = json_stringn(buf, n);
	if (!s)
		snprintf(err, errlen, "%.200s is not UTF-8 text", path);
	free(buf);
	return s;
}

void sys_replay_start(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	json_t *data = json_object_get(args, "recording_data"), *names = NULL;
	const char *path = NULL;
	struct jr_err err;
	char why[512];
	bool stop = false;
	int r;

	if (!operator_only(req, "replay"))
		return;
	if (jr_bool(args, "stop", &stop, &err) < 0 ||
	    jr_string(args, "path", false, &path, &err) < 0 ||
	    jr_string_array(args, "agents", false, 4096, &names, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	if (stop) {
		replay_stop(k->hub);
		request_reply_json(req, replay_status(k->hub));
		return;
	}
	if (!data == !path ||
	    (data && !json_is_string(data) && !json_is_array(data))) {
		request_reply_error(req, -EINVAL,
				    "give 'recording_data' (JSON Lines text or "
				    "an array of entries) or 'path'");
		return;
	}
	data = path ? read_recording(path, why, sizeof(why))
		    : json_incref(data);
	r = data ? replay_start(k->hub, data, names, why, sizeof(why))
		 : -EINVAL;
	json_decref(data);
	if (r < 0) {
		request_reply_error(req, r, "%s", why);
		return;
	}
	request_reply_json(req, replay_status(k->hub));
}

void sys_replay_status(struct request *req, json_t *args)
{
	if (!operator_only(req, "read the replay"))
		return;
	request_reply_json(req, replay_status(request_kernel(req)->hub));
}
