/* SPDX-License-Identifier: MIT */
/*
 * READ (0x03) and WRITE (0x04): open with openat2 through the loop, check
 * the file is a regular one, then read or write it in loop operations, so a
 * slow disk never blocks the kernel. Files are opened O_NONBLOCK at first:
 * opening a FIFO would otherwise wait for a peer; once the file is known to
 * be regular the flag is dropped again (for regular files it would make
 * io_uring report -EAGAIN instead of waiting for the page cache).
 *
 * Where a file may be opened is the permission system's (perm-path.h): the
 * path is made canonical, planned under the caller's policy (an allowed
 * root and the rest beneath it), the root opened O_PATH and the rest with
 * openat2 RESOLVE_BENEATH relative to it, and the opened fd checked again
 * — never a string check followed by an open by name.
 *
 * READ reads up to max_bytes + 1 bytes: the extra byte tells "truncated"
 * exactly, also for files whose st_size means nothing (procfs). Content is
 * sent as text when it is valid UTF-8, else as base64.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "caller.h"
#include "dispatch.h"
#include "jsonreq.h"
#include "kernel.h"
#include "loop.h"
#include "macro.h"
#include "perm-glob.h"
#include "perm-path.h"
#include "perm.h"
#include "request.h"
#include "utf8.h"

#define FILE_DEFAULT_READ (8 << 20)
#define FILE_MAX_READ	  (8 << 20)
/* First buffer when st_size does not tell how much there is. */
#define FILE_FIRST_CHUNK 4096
/* Far beyond any real file, and offset + length cannot overflow. */
#define FILE_MAX_OFFSET (INT64_C(1) << 62)

struct file_job {
	struct loop_op op;
	struct loop *loop;
	struct request *req;
	struct open_how how;
	/* The canonical path asked for. */
	char path[PATH_MAX];
	/* The caller's canonical work directory, "" for operators. */
	char work[PATH_MAX];
	enum perm_access access;
	struct perm_path_plan plan;
	/* The plan's root, open with O_PATH until the file is open. */
	int rootfd;
	/* The open after the root's; then its callback. */
	loop_op_fn opened;
	uint64_t flags;
	/* WRITE "write" mode: truncate once the file passed its check. */
	bool trunc;
	int fd;
	/* READ */
	int64_t offset;
	size_t max;
	int64_t size;
	uint8_t *buf;
	size_t len, cap;
	/* WRITE */
	uint8_t *data;
	size_t data_len, done;
};

static void file_job_free(struct file_job *j)
{
	if (!j)
		return;
	closep(&j->fd);
	closep(&j->rootfd);
	free(j->buf);
	free(j->data);
	free(j);
}

/* Answers with an error naming the path and frees the job. */
_printf_(3, 4) static void fail(struct file_job *j, int err, const char *fmt,
				...)
{
	char what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	request_reply_error(j->req, err, "%s %s: %s", what, j->path,
			    strerror(-err));
	file_job_free(j);
}

/* A refusal of the permission system: logged, answered EACCES. */
static void deny(struct file_job *j, const struct perm_why *why)
{
	dispatch_reply_denied(j->req, "%s", why->msg);
	file_job_free(j);
}

static struct file_job *file_job_new(struct request *req)
{
	struct file_job *j = calloc(1, sizeof(*j));

	if (!j) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return NULL;
	}
	j->fd = -EBADF;
	j->rootfd = -EBADF;
	j->req = req;
	j->loop = request_kernel(req)->loop;
	return j;
}

/* The caller's policy now: a SET_PERMS between the plan and the open
 * counts. NULL once the agent's record is gone. */
static const struct perm_policy *job_policy(struct file_job *j)
{
	const struct perm_policy *p;

	if (perm_caller_policy(request_kernel(j->req), request_caller(j->req),
			       &p) < 0)
		return NULL;
	return p;
}

/* Canonical path and plan for the request's path. Answers and returns
 * -errno on failure (j is then still the caller's to free). */
static int file_plan(struct file_job *j, const char *path)
{
	struct kernel *k = request_kernel(j->req);
	const struct perm_policy *p = job_policy(j);
	struct perm_why why;
	int r;

	r = perm_work_dir(k, request_caller(j->req), j->work, sizeof(j->work));
	if (r >= 0)
		r = perm_path_normalize(r > 0 ? j->work : NULL, path, j->path,
					sizeof(j->path));
	if (r == -EINVAL && !path[0])
		request_reply_error(j->req, r,
				    "field 'path' must not be empty");
	else if (r == -EINVAL)
		request_reply_error(j->req, r, "path must be absolute: %s",
				    path);
	else if (r < 0)
		request_reply_error(j->req, r, "field 'path' is too long");
	if (r < 0)
		return r;
	if (!p) {
		snprintf(why.msg, sizeof(why.msg),
			 "the caller has no policy (its agent record is gone)");
		r = -EACCES;
	} else {
		r = perm_path_plan(p, j->access, j->path,
				   j->work[0] ? j->work : NULL, &j->plan, &why);
	}
	if (r == -EACCES)
		dispatch_reply_denied(j->req, "%s", why.msg);
	else if (r < 0)
		request_reply_error(j->req, r, "field 'path' is too long");
	return r;
}

/* The root is open: open the rest of the path beneath it. */
static void on_root_open(struct loop_op *op, int res, uint32_t flags)
{
	struct file_job *j = container_of(op, struct file_job, op);
	struct perm_why why;

	if (res < 0) {
		int r = perm_path_explain(res, true, &j->plan, j->path, &why);
		if (r == -EACCES)
			deny(j, &why);
		else
			fail(j, r, "cannot open");
		return;
	}
	j->rootfd = res;
	j->how = (struct open_how){
		.flags = j->flags,
		.mode = (j->flags & O_CREAT) ? 0644 : 0,
		.resolve = j->plan.resolve,
	};
	j->op.fn = j->opened;
	int r = loop_openat2(j->loop, &j->op, j->rootfd, j->plan.rest, &j->how);
	if (r < 0)
		fail(j, r, "cannot open");
}

/*
 * The common start: validate the path field, plan it under the caller's
 * policy, and queue the opens (the root's first unless the policy allows
 * every path), which then own j. Takes ownership of j: on failure the
 * request is answered and j freed.
 */
static void file_open(struct file_job *j, json_t *args, int flags,
		      enum perm_access access, loop_op_fn fn)
{
	const char *path = NULL;
	struct jr_err err;
	bool trunc;
	int r;

	r = jr_string(args, "path", true, &path, &err);
	if (r < 0) {
		request_reply_error(j->req, r, "%s", err.msg);
		goto out_free;
	}
	j->access = access;
	if (file_plan(j, path) < 0)
		goto out_free;
	j->flags = (uint64_t)perm_path_open_flags(
		&j->plan, flags | O_NOCTTY | O_NONBLOCK, &trunc);
	j->trunc = trunc;
	j->opened = fn;
	if (j->plan.open_all) {
		j->how = (struct open_how){
			.flags = j->flags,
			.mode = (flags & O_CREAT) ? 0644 : 0,
			.resolve = j->plan.resolve,
		};
		j->op.fn = fn;
		r = loop_openat2(j->loop, &j->op, AT_FDCWD, j->plan.rest,
				 &j->how);
	} else {
		perm_path_root_how(&j->how);
		j->op.fn = on_root_open;
		r = loop_openat2(j->loop, &j->op, AT_FDCWD, j->plan.root,
				 &j->how);
	}
	if (r < 0)
		fail(j, r, "cannot open");
	return;
out_free:
	file_job_free(j);
}

/*
 * The file's open finished with res: refusals of the resolver and of the
 * check of the opened file are answered EACCES, other errors as they are.
 * 0 when j holds the checked fd; otherwise j is answered and freed.
 */
static int file_opened(struct file_job *j, int res)
{
	const struct perm_policy *p;
	struct perm_why why;
	int r;

	if (res < 0) {
		r = perm_path_explain(res, false, &j->plan, j->path, &why);
		if (r == -EACCES)
			deny(j, &why);
		else
			fail(j, r, "cannot open");
		return r;
	}
	j->fd = res;
	closep(&j->rootfd);
	j->rootfd = -EBADF;
	p = job_policy(j);
	if (!p) {
		snprintf(why.msg, sizeof(why.msg),
			 "the caller has no policy (its agent record is gone)");
		r = -EACCES;
	} else {
		r = perm_path_check_fd(p, j->access, &j->plan, j->fd,
				       j->work[0] ? j->work : NULL, &why);
	}
	if (r < 0)
		deny(j, &why);
	return r;
}

/* Takes the fd of a finished open; 0 when it is a regular file, now in
 * blocking mode. */
static int adopt_fd(struct file_job *j, int fd, struct stat *ret_st)
{
	if (fstat(fd, ret_st) < 0)
		return negative_errno();
	if (S_ISDIR(ret_st->st_mode))
		return -EISDIR;
	if (!S_ISREG(ret_st->st_mode))
		return -EINVAL;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return negative_errno();
	return 0;
}

static void reply_not_regular(struct file_job *j, int r, const char *verb)
{
	if (r == -EISDIR)
		request_reply_error(j->req, r, "%s is a directory", j->path);
	else if (r == -EINVAL)
		request_reply_error(j->req, r, "%s is not a regular file",
				    j->path);
	else {
		fail(j, r, "cannot %s", verb);
		return;
	}
	file_job_free(j);
}

/* READ */

static void on_read(struct loop_op *op, int res, uint32_t flags);

static void read_next(struct file_job *j)
{
	if (j->len == j->cap) {
		size_t cap = MIN(j->cap * 2, j->max + 1);
		uint8_t *b = realloc(j->buf, cap);
		if (!b) {
			fail(j, -ENOMEM, "cannot read");
			return;
		}
		j->buf = b;
		j->cap = cap;
	}
	j->op.fn = on_read;
	int r = loop_read(j->loop, &j->op, j->fd, j->buf + j->len,
			  j->cap - j->len, j->offset + (int64_t)j->len);
	if (r < 0)
		fail(j, r, "cannot read");
}

static void read_reply(struct file_job *j)
{
	bool truncated = j->len > j->max;
	size_t n = MIN(j->len, j->max);
	const char *text = j->buf ? (const char *)j->buf : "";
	_cleanup_free_ char *b64 = NULL;
	json_t *content;
	size_t escaped = 0;
	/* Text unless JSON escapes would make it bigger than base64 (a file
	 * full of control bytes grows 6x as text). */
	bool utf8 = utf8_valid(text, n) &&
		    utf8_json_prefix(text, n, (n + 2) / 3 * 4, &escaped) == n;

	if (utf8)
		content = json_stringn(text, n);
	else {
		size_t b64_len;
		if (base64_encode(text, n, &b64, &b64_len) < 0) {
			fail(j, -ENOMEM, "cannot read");
			return;
		}
		content = json_stringn(b64, b64_len);
	}
	json_t *reply =
		json_pack("{s:b, s:o, s:I, s:I, s:b, s:s}", "success", 1,
			  "content", content, "size", (json_int_t)j->size,
			  "bytes_read", (json_int_t)n, "truncated", truncated,
			  "encoding", utf8 ? "utf-8" : "base64");
	if (!reply) {
		fail(j, -ENOMEM, "cannot read");
		return;
	}
	request_reply_json(j->req, reply);
	file_job_free(j);
}

static void on_read(struct loop_op *op, int res, uint32_t flags)
{
	struct file_job *j = container_of(op, struct file_job, op);

	if (res == -EINTR || res == -EAGAIN) {
		read_next(j);
		return;
	}
	if (res < 0) {
		fail(j, res, "cannot read");
		return;
	}
	j->len += (size_t)res;
	if (res == 0 || j->len > j->max) {
		read_reply(j);
		return;
	}
	read_next(j);
}

static void on_read_open(struct loop_op *op, int res, uint32_t flags)
{
	struct file_job *j = container_of(op, struct file_job, op);
	struct stat st;

	if (file_opened(j, res) < 0)
		return;
	int r = adopt_fd(j, j->fd, &st);
	if (r < 0) {
		reply_not_regular(j, r, "read");
		return;
	}

	j->size = st.st_size;
	/* Room for what st_size promises plus the byte that finds EOF. */
	if (st.st_size > j->offset)
		j->cap = (size_t)MIN(st.st_size - j->offset, (int64_t)j->max) +
			 1;
	else
		j->cap = MIN((size_t)FILE_FIRST_CHUNK, j->max + 1);
	j->buf = malloc(j->cap);
	if (!j->buf) {
		fail(j, -ENOMEM, "cannot read");
		return;
	}
	read_next(j);
}

void sys_read(struct request *req, json_t *args)
{
	int64_t offset = 0, max = FILE_DEFAULT_READ;
	struct jr_err err;
	int r;

	if ((r = jr_int(args, "offset", false, 0, FILE_MAX_OFFSET, &offset,
			&err)) < 0 ||
	    (r = jr_int(args, "max_bytes", false, 0, FILE_MAX_READ, &max,
			&err)) < 0) {
		request_reply_error(req, r, "%s", err.msg);
		return;
	}
	struct file_job *j = file_job_new(req);
	if (!j)
		return;
	j->offset = offset;
	j->max = (size_t)max;
	file_open(j, args, O_RDONLY, PERM_ACCESS_READ, on_read_open);
}

/* WRITE */

static void on_write(struct loop_op *op, int res, uint32_t flags);

static void write_reply(struct file_job *j)
{
	int fd = take_fd(j->fd);

	/* close() is where some filesystems (NFS) report a failed write. */
	if (close(fd) < 0 && errno != EINTR) {
		fail(j, negative_errno(), "cannot write");
		return;
	}
	request_reply_json(j->req,
			   json_pack("{s:b, s:I}", "success", 1,
				     "bytes_written", (json_int_t)j->done));
	file_job_free(j);
}

static void write_next(struct file_job *j)
{
	if (j->done == j->data_len) {
		write_reply(j);
		return;
	}
	j->op.fn = on_write;
	int r = loop_write(j->loop, &j->op, j->fd, j->data + j->done,
			   j->data_len - j->done, -1);
	if (r < 0)
		fail(j, r, "cannot write");
}

static void on_write(struct loop_op *op, int res, uint32_t flags)
{
	struct file_job *j = container_of(op, struct file_job, op);

	if (res == -EINTR || res == -EAGAIN) {
		write_next(j);
		return;
	}
	if (res < 0) {
		fail(j, res, "cannot write");
		return;
	}
	/* A regular file that takes nothing would loop forever. */
	if (res == 0) {
		fail(j, -EIO, "cannot write");
		return;
	}
	j->done += (size_t)res;
	write_next(j);
}

static void on_write_open(struct loop_op *op, int res, uint32_t flags)
{
	struct file_job *j = container_of(op, struct file_job, op);
	struct stat st;

	if (file_opened(j, res) < 0)
		return;
	int r = adopt_fd(j, j->fd, &st);
	if (r < 0) {
		reply_not_regular(j, r, "write");
		return;
	}
	/* Held back from the open so a refused file is never truncated;
	 * metadata only, where io_uring has no operation on 6.1. */
	if (j->trunc && ftruncate(j->fd, 0) < 0) {
		fail(j, negative_errno(), "cannot truncate");
		return;
	}
	write_next(j);
}

/* The bytes to write: the text itself, or what its base64 decodes to. */
static int write_content(json_t *args, bool base64, uint8_t **ret,
			 size_t *ret_len, struct jr_err *err)
{
	const char *s = NULL;
	int r;

	r = jr_string(args, "content", true, &s, err);
	if (r < 0)
		return r;
	size_t n = strlen(s);
	if (base64) {
		void *data;
		r = base64_decode(s, n, &data, ret_len);
		if (r == -EINVAL)
			snprintf(err->msg, sizeof(err->msg),
				 "field 'content' is not valid base64");
		if (r < 0)
			return r;
		*ret = data;
		return 0;
	}
	*ret = malloc(n ? n : 1);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, s, n);
	*ret_len = n;
	return 0;
}

void sys_write(struct request *req, json_t *args)
{
	static const char *const modes[] = { "write", "append", NULL };
	static const char *const encodings[] = { "utf-8", "base64", NULL };
	_cleanup_free_ uint8_t *data = NULL;
	int mode = 0, encoding = 0;
	size_t len = 0;
	struct jr_err err;
	int r;

	if ((r = jr_enum(args, "mode", modes, &mode, &err)) < 0 ||
	    (r = jr_enum(args, "encoding", encodings, &encoding, &err)) < 0 ||
	    (r = write_content(args, encoding == 1, &data, &len, &err)) < 0) {
		if (r == -ENOMEM)
			request_reply_error(req, r, "out of memory");
		else
			request_reply_error(req, r, "%s", err.msg);
		return;
	}
	struct file_job *j = file_job_new(req);
	if (!j)
		return;
	j->data = take_ptr(data);
	j->data_len = len;
	file_open(j, args,
		  O_WRONLY | O_CREAT | (mode == 1 ? O_APPEND : O_TRUNC),
		  PERM_ACCESS_WRITE, on_write_open);
}
