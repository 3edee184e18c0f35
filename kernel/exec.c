/* SPDX-License-Identifier: MIT */
/*
 * An EXEC job from spawn to reply. Everything is a loop operation: the
 * child's exit (a poll on its pidfd), its stdout and stderr (reads into
 * buffers bounded by max_output, then into a scratch buffer whose bytes are
 * dropped, so a chatty command never stalls on a full pipe), its stdin
 * (writes), the deadline and the drain timer. The reply goes out once the
 * command has been reaped and both pipes are at EOF. Two things can keep a
 * pipe open after that: a background process the command left behind, or
 * one that escaped the SIGKILL of the process group on timeout; the drain
 * timer bounds the wait for EOF in both cases, then the pipes are closed.
 *
 * Each in-flight operation holds a reference on the job; the job is freed
 * when the last one completes, never while the ring may still write into
 * its buffers.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel.h"
#include "loop.h"
#include "macro.h"
#include "proc.h"
#include "request.h"
#include "utf8.h"

/* Bytes asked for per read once a stream's buffer is full (dropped). */
#define EXEC_CHUNK (64u * 1024)
/* How long the pipes may stay open after the command ended or was killed. */
#define EXEC_DRAIN_MS 500
/* Commands running at once, over all callers. */
#define EXEC_MAX_JOBS 256

struct exec_job;

struct exec_stream {
	struct exec_job *job;
	struct loop_op op;
	/* -EBADF once at EOF (or given up). */
	int fd;
	bool busy;
	/* The read in flight goes to scratch: its bytes are dropped. */
	bool dropping;
	bool truncated;
	char *buf;
	size_t len, cap;
	char *scratch;
};

struct exec_job {
	struct exec_job *prev, *next;
	struct kernel *k;
	struct loop *loop;
	/* NULL once answered. */
	struct request *req;
	/* One per operation in flight, plus exec_start()'s own. */
	unsigned refs;
	/* Set when supervising failed; the reply is then this error. */
	int watch_err;

	pid_t pid;
	int pidfd;
	struct loop_op exit_op;
	bool exit_busy;
	/* Once reaped, pid may name another process: never kill(-pid) then. */
	bool reaped;
	bool status_known;
	int exit_code;
	int signal;

	struct exec_stream out, err;

	struct loop_op in_op;
	int in_fd;
	bool in_busy;
	char *in_buf;
	size_t in_len, in_off;

	struct loop_timer deadline, drain;
	bool timed_out;
	uint64_t started_ms;
	double timeout_s;
	size_t max_output;
};

/* Live jobs, for shutdown and the global limit. cloved runs one loop on
 * one thread, so no lock. */
static struct exec_job *jobs;
static unsigned njobs;

/* closep() that also marks the fd as gone, for fds closed early. */
static void close_fd(int *fd)
{
	closep(fd);
	*fd = -EBADF;
}

static void stream_close(struct exec_stream *s)
{
	close_fd(&s->fd);
}

static void job_free(struct exec_job *job)
{
	if (!job)
		return;
	if (job->prev || jobs == job) {
		if (job->prev)
			job->prev->next = job->next;
		else
			jobs = job->next;
		if (job->next)
			job->next->prev = job->prev;
		njobs--;
	}
	struct exec_stream *streams[] = { &job->out, &job->err };
	for (size_t i = 0; i < ELEMENTSOF(streams); i++) {
		stream_close(streams[i]);
		free(streams[i]->buf);
		free(streams[i]->scratch);
	}
	closep(&job->in_fd);
	free(job->in_buf);
	closep(&job->pidfd);
	free(job);
}

static void job_freep(struct exec_job **job)
{
	job_free(*job);
}

static void job_finish(struct exec_job *job);

static void job_unref(struct exec_job *job)
{
	if (--job->refs > 0)
		return;
	/* Nothing is in flight, so nothing else will finish it. */
	if (job->req)
		job_finish(job);
	job_free(job);
}

static int stream_arm(struct exec_stream *s)
{
	struct exec_job *job = s->job;
	void *dst;
	size_t n;

	if (s->len < job->max_output) {
		size_t want = MIN(EXEC_CHUNK, job->max_output - s->len);
		if (s->cap - s->len < want) {
			size_t cap = MAX(s->cap * 2, s->len + want);
			cap = MIN(cap, job->max_output);
			char *b = realloc(s->buf, cap);
			if (!b)
				return -ENOMEM;
			s->buf = b;
			s->cap = cap;
		}
		dst = s->buf + s->len;
		n = s->cap - s->len;
	} else {
		if (!s->scratch && !(s->scratch = malloc(EXEC_CHUNK)))
			return -ENOMEM;
		dst = s->scratch;
		n = EXEC_CHUNK;
	}
	int r = loop_read(job->loop, &s->op, s->fd, dst, n, -1);
	if (r < 0)
		return r;
	s->dropping = dst == s->scratch;
	s->busy = true;
	job->refs++;
	return 0;
}

static int exit_arm(struct exec_job *job)
{
	int r = loop_poll(job->loop, &job->exit_op, job->pidfd, POLLIN);
	if (r < 0)
		return r;
	job->exit_busy = true;
	job->refs++;
	return 0;
}

static int stdin_arm(struct exec_job *job)
{
	int r = loop_write(job->loop, &job->in_op, job->in_fd,
			   job->in_buf + job->in_off, job->in_len - job->in_off,
			   -1);
	if (r < 0)
		return r;
	job->in_busy = true;
	job->refs++;
	return 0;
}

static int timer_arm(struct exec_job *job, struct loop_timer *t, uint64_t ms)
{
	if (t->armed)
		return 0;
	int r = loop_timer_arm(job->loop, t, ms);
	if (r < 0)
		return r;
	job->refs++;
	return 0;
}

/* Called after every event: replies when the command is done, or starts
 * the drain clock when only the pipes are left. */
static void job_check(struct exec_job *job)
{
	if (!job->req || !job->reaped)
		return;
	if (job->out.fd < 0 && job->err.fd < 0)
		job_finish(job);
	else if (timer_arm(job, &job->drain, EXEC_DRAIN_MS) < 0)
		job_finish(job);
}

static void on_stream(struct loop_op *op, int res, uint32_t flags)
{
	struct exec_stream *s = container_of(op, struct exec_stream, op);
	struct exec_job *job = s->job;

	s->busy = false;
	if (job->req && (res > 0 || res == -EINTR || res == -EAGAIN)) {
		if (res > 0 && s->dropping)
			s->truncated = true;
		else if (res > 0)
			s->len += (size_t)res;
		if (stream_arm(s) < 0)
			stream_close(s);
	} else {
		/* EOF, an error, or the job is answered (cancelled). */
		stream_close(s);
	}
	job_check(job);
	job_unref(job);
}

static void on_stdin(struct loop_op *op, int res, uint32_t flags)
{
	struct exec_job *job = container_of(op, struct exec_job, in_op);

	job->in_busy = false;
	if (res > 0)
		job->in_off += (size_t)res;
	/* -EPIPE: the command does not read its stdin, which is its right. */
	bool again = job->req && job->in_off < job->in_len &&
		     (res > 0 || res == -EINTR || res == -EAGAIN);
	if (!again || stdin_arm(job) < 0)
		close_fd(&job->in_fd);
	job_unref(job);
}

static void on_child_exit(struct loop_op *op, int res, uint32_t flags)
{
	struct exec_job *job = container_of(op, struct exec_job, exit_op);
	int code, sig;

	job->exit_busy = false;
	/* A command's process tree ends with it: background children left in
	 * its group are killed while the unreaped leader still pins the
	 * group id (so the kill cannot hit a reused group). */
	if (res > 0)
		(void)kill(-job->pid, SIGKILL);
	int r = proc_reap(job->pidfd, &code, &sig);
	/* Not exited yet: poll again, unless the poll itself failed (then
	 * polling again would spin). */
	if (r == -EAGAIN && (res >= 0 || res == -EINTR) && exit_arm(job) == 0)
		goto out;
	/* Even when the status is lost (it cannot be polled again), the
	 * job must not wait for it forever. */
	job->reaped = true;
	if (r == 0) {
		job->status_known = true;
		job->exit_code = code;
		job->signal = sig;
	}
	job_check(job);
out:
	job_unref(job);
}

static void on_deadline(struct loop_timer *t, int res)
{
	struct exec_job *job = container_of(t, struct exec_job, deadline);

	if (res == -ETIME && job->req && !job->reaped) {
		/* The whole group: a shell's children die with it. */
		(void)kill(-job->pid, SIGKILL);
		job->timed_out = true;
		if (timer_arm(job, &job->drain, EXEC_DRAIN_MS) < 0)
			job_finish(job);
	}
	job_unref(job);
}

static void on_drain(struct loop_timer *t, int res)
{
	struct exec_job *job = container_of(t, struct exec_job, drain);

	if (res == -ETIME && job->req)
		job_finish(job);
	job_unref(job);
}

/* Output as a JSON string; invalid UTF-8 (jansson accepts nothing else)
 * becomes U+FFFD, so binary output is visible as damaged, not lost. */
/* Escaped bytes one stream may take in a reply: two fit in PROTO_MAX_REPLY
 * with room for the other fields. */
#define EXEC_STREAM_JSON_MAX ((size_t)7 << 20)

static json_t *stream_json(const struct exec_stream *s, bool *truncated)
{
	const char *buf = s->buf ? s->buf : "";
	_cleanup_free_ char *clean = NULL;
	size_t n = s->len;

	if (!utf8_valid(buf, n)) {
		if (utf8_sanitize(buf, n, &clean, &n) < 0)
			return NULL;
		buf = clean;
	}
	/* Both streams must fit one reply even when JSON escapes blow them
	 * up: cut at a character boundary rather than fail. */
	size_t keep = utf8_json_prefix(buf, n, EXEC_STREAM_JSON_MAX, NULL);
	if (keep < n)
		*truncated = true;
	return json_stringn(buf, keep);
}

static void job_reply(struct exec_job *job, struct request *req)
{
	if (job->watch_err < 0) {
		request_reply_error(req, job->watch_err,
				    "cannot supervise the command: %s",
				    strerror(-job->watch_err));
		return;
	}

	bool known = job->status_known;
	bool truncated = job->out.truncated || job->err.truncated;
	json_t *out = stream_json(&job->out, &truncated);
	json_t *err = stream_json(&job->err, &truncated);
	json_t *fields = json_pack(
		"{s:o, s:o, s:o, s:o, s:b, s:b, s:I}", "stdout", out, "stderr",
		err, "exit_code",
		known ? json_integer(job->exit_code) : json_null(), "signal",
		known && job->signal ? json_integer(job->signal) : json_null(),
		"timed_out", job->timed_out, "truncated", truncated,
		"duration_ms", (json_int_t)(loop_now_ms() - job->started_ms));
	if (!fields) {
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	if (job->timed_out) {
		request_reply_error_with(req, -ETIMEDOUT, fields,
					 "command timed out after %g s",
					 job->timeout_s);
		return;
	}
	/* "success" first, for people reading replies. */
	json_t *reply = json_pack("{s:b}", "success", 1);
	if (!reply || json_object_update(reply, fields) < 0) {
		json_decref(reply);
		json_decref(fields);
		request_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	json_decref(fields);
	request_reply_json(req, reply);
}

/* Answers the request and stops whatever still runs for it; the
 * cancelled operations then complete and drop their references. */
/* The client went away: nobody wants the result, so the command stops. */
static void job_cancel(struct request *req)
{
	struct exec_job *job = req->cancel_data;
	if (!job->reaped)
		(void)kill(-job->pid, SIGKILL);
}

static void job_finish(struct exec_job *job)
{
	struct request *req = job->req;

	job->req = NULL;
	req->cancel = NULL;
	(void)loop_timer_cancel(job->loop, &job->deadline);
	(void)loop_timer_cancel(job->loop, &job->drain);
	if (job->out.busy)
		(void)loop_cancel(job->loop, &job->out.op);
	if (job->err.busy)
		(void)loop_cancel(job->loop, &job->err.op);
	if (job->in_busy)
		(void)loop_cancel(job->loop, &job->in_op);
	/* The exit poll stays: it reaps a killed command that has not died
	 * yet, so no zombie is left behind. */
	job_reply(job, req);
}

/* Supervising failed: stop the command and make sure it is reaped. The
 * operations that did start complete as it dies. */
static void job_abort(struct exec_job *job, int err)
{
	siginfo_t si;

	job->watch_err = err;
	(void)kill(-job->pid, SIGKILL);
	if (!job->exit_busy) {
		/* Nothing else would reap it; SIGKILL makes this wait short. */
		while (waitid((idtype_t)P_PIDFD, (id_t)job->pidfd, &si,
			      WEXITED) < 0 &&
		       errno == EINTR)
			;
		job->reaped = true;
	}
	if (!job->out.busy)
		stream_close(&job->out);
	if (!job->err.busy)
		stream_close(&job->err);
	if (!job->in_busy)
		close_fd(&job->in_fd);
}

static void job_watch(struct exec_job *job, uint64_t timeout_ms)
{
	int r = exit_arm(job);

	if (r == 0)
		r = stream_arm(&job->out);
	if (r == 0)
		r = stream_arm(&job->err);
	if (r == 0 && job->in_fd >= 0)
		r = stdin_arm(job);
	if (r == 0)
		r = timer_arm(job, &job->deadline, timeout_ms);
	if (r < 0)
		job_abort(job, r);
}

static int job_new(struct request *req, const struct exec_params *p,
		   struct exec_job **ret)
{
	struct kernel *k = request_kernel(req);
	struct exec_job *job = calloc(1, sizeof(*job));

	if (!job)
		return -ENOMEM;
	*job = (struct exec_job){
		.k = k,
		.loop = k->loop,
		.req = req,
		.pid = -1,
		.pidfd = -EBADF,
		.out = { .job = job, .fd = -EBADF, .op.fn = on_stream },
		.err = { .job = job, .fd = -EBADF, .op.fn = on_stream },
		.in_fd = -EBADF,
		.in_op.fn = on_stdin,
		.exit_op.fn = on_child_exit,
		.deadline.fn = on_deadline,
		.drain.fn = on_drain,
		.timeout_s = p->timeout_s,
		.max_output = p->max_output,
	};
	if (p->stdin_len > 0) {
		job->in_buf = malloc(p->stdin_len);
		if (!job->in_buf) {
			free(job);
			return -ENOMEM;
		}
		memcpy(job->in_buf, p->stdin_data, p->stdin_len);
		job->in_len = p->stdin_len;
	}
	*ret = job;
	return 0;
}

static int make_pipe(int *ret_rd, int *ret_wr)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return negative_errno();
	*ret_rd = fds[0];
	*ret_wr = fds[1];
	return 0;
}

int exec_start(struct request *req, const struct exec_params *p,
	       struct proc_failure *ret_fail)
{
	_cleanup_(job_freep) struct exec_job *job = NULL;
	_cleanup_close_ int in_rd = -EBADF, out_wr = -EBADF, err_wr = -EBADF;
	int r;

	if (njobs >= EXEC_MAX_JOBS)
		return -EAGAIN;
	r = job_new(req, p, &job);
	if (r < 0)
		return r;
	r = make_pipe(&job->out.fd, &out_wr);
	if (r == 0)
		r = make_pipe(&job->err.fd, &err_wr);
	if (r == 0 && job->in_len > 0)
		r = make_pipe(&in_rd, &job->in_fd);
	if (r < 0)
		return r;

	struct proc_spec spec = {
		.path = p->path ? p->path : p->argv[0],
		.argv = p->argv,
		.envp = p->envp,
		.cwd = p->cwd,
		.stdin_fd = in_rd,
		.stdout_fd = out_wr,
		.stderr_fd = err_wr,
		.pass_fd = -1,
		.sandbox = p->sandbox,
		.cgroup_fd = p->cgroup_fd,
		.cgroup_procs_fds = p->cgroup_procs_fds,
		.n_cgroup_procs_fds = p->n_cgroup_procs_fds,
	};
	job->started_ms = loop_now_ms();
	r = proc_spawn(&spec, &job->pid, &job->pidfd, ret_fail);
	if (r < 0)
		return r;
	/* Only the child may hold the write ends, or EOF never comes. */
	close_fd(&out_wr);
	close_fd(&err_wr);
	close_fd(&in_rd);

	job->next = jobs;
	if (jobs)
		jobs->prev = job;
	jobs = job;
	njobs++;

	req->cancel = job_cancel;
	req->cancel_data = job;
	job->refs = 1;
	job_watch(job, p->timeout_ms);
	job_unref(take_ptr(job));
	return 0;
}

void exec_kill_all(struct kernel *k)
{
	for (struct exec_job *j = jobs; j; j = j->next)
		if (j->k == k && !j->reaped)
			(void)kill(-j->pid, SIGKILL);
}

void exec_free_all(struct kernel *k)
{
	struct exec_job *j = jobs, *next;

	for (; j; j = next) {
		next = j->next;
		if (j->k == k)
			job_free(j);
	}
}
