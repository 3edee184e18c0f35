/* SPDX-License-Identifier: MIT */
/*
 * The llm_worker pool (llm-worker.h). A worker slot runs one process at a
 * time; each process is a struct llm_proc, pinned by every loop operation
 * in flight on it (its exit poll, its stdout read, its stdin write), so a
 * process that dies is forgotten by its slot at once (and the slot may
 * start the next) while its operations drain. Everything goes through the
 * loop: the kernel never waits for a worker.
 *
 * Start failures: a process that exits, or says nothing, before `ready`
 * counts as a failed start; the slot retries with exponential backoff
 * (LLM_BACKOFF_MIN_MS doubling to LLM_BACKOFF_MAX_MS) and, while every
 * slot's last start failed, the owner is told the pool is unavailable so
 * calls fail with the reason instead of waiting.
 */
#include "llm-worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel.h"
#include "llm-frame.h"
#include "log.h"
#include "loop.h"
#include "macro.h"
#include "proc.h"

#define LLM_BACKOFF_MIN_MS 100u
#define LLM_BACKOFF_MAX_MS 10000u
/* Importing google-genai takes a second or two; a worker silent for this
 * long is stuck. */
#define LLM_READY_TIMEOUT_MS 30000u
/* After a worker closes its stdout, how long its exit may take to show. */
#define LLM_EOF_GRACE_MS 1000u
/* A worker that ran this long after ready resets the backoff. */
#define LLM_STABLE_MS 5000u
#define LLM_READ_CHUNK (64u << 10)
/* Frames queued for a worker's stdin: a worker that is alive but does not
 * read (stuck after ready) is given up past this, rather than the queue
 * growing with every call and cancel sent to it. */
#define LLM_WQ_MAX ((size_t)64 << 20)

struct llm_worker;

struct wframe {
	struct wframe *next;
	uint8_t *data;
	size_t len;
};

struct llm_proc {
	/* Every process of the pool, its slot's or lost, until freed. */
	struct llm_proc *prev, *next;
	struct llm_pool *pool;
	/* NULL once the slot has given up on this process. */
	struct llm_worker *w;
	struct loop *loop;
	/* One per op in flight, plus the slot's. */
	unsigned refs;
	pid_t pid;
	int pidfd, in_fd, out_fd;
	struct loop_op exit_op, read_op, write_op;
	/* After EOF on its stdout: how long the exit poll may take to say
	 * why, before the process is given up as silent. */
	struct loop_timer eof_timer;
	/* A loss found while sending (proc_send's callers are in the middle
	 * of their own bookkeeping): proc_lost() runs from this 0 ms timer,
	 * and the process takes no more calls meanwhile. */
	struct loop_timer lost_timer;
	const char *lost_why;
	bool reaped, reading, writing;
	uint8_t *rbuf;
	size_t rlen, rcap;
	struct wframe *wq, *wq_tail;
	size_t woff;
	/* The bytes of the frames in wq (bounded: LLM_WQ_MAX). */
	size_t wq_bytes;
};

struct llm_worker {
	struct llm_pool *pool;
	unsigned idx;
	struct llm_proc *proc;
	bool ready;
	/* The last start attempt ended before `ready`. */
	bool start_failed;
	unsigned failures;
	unsigned inflight;
	unsigned starts;
	uint64_t ready_ms;
	struct loop_timer restart_timer, ready_timer;
};

struct llm_pool {
	struct kernel *k;
	const struct llm_pool_ops *ops;
	void *data;
	char *python;
	char **envp;
	bool started;
	unsigned nworkers;
	struct llm_proc *procs;
	char error[256];
	struct llm_worker workers[LLM_POOL_MAX_WORKERS];
};

static void proc_free(struct llm_proc *p)
{
	if (p->pool) {
		if (p->prev)
			p->prev->next = p->next;
		else
			p->pool->procs = p->next;
		if (p->next)
			p->next->prev = p->prev;
	}
	for (struct wframe *f = p->wq, *next; f; f = next) {
		next = f->next;
		free(f->data);
		free(f);
	}
	closep(&p->pidfd);
	closep(&p->in_fd);
	closep(&p->out_fd);
	free(p->rbuf);
	free(p);
}

static void proc_unref(struct llm_proc *p)
{
	if (--p->refs == 0)
		proc_free(p);
}

static void worker_start(struct llm_worker *w);

static void pool_check_unavailable(struct llm_pool *pool)
{
	for (unsigned i = 0; i < pool->nworkers; i++)
		if (pool->workers[i].ready || !pool->workers[i].start_failed)
			return;
	pool->ops->unavailable(pool->data, pool->error);
}

static void schedule_restart(struct llm_worker *w)
{
	unsigned shift = MIN(w->failures, 7u);
	uint64_t ms = MIN((uint64_t)LLM_BACKOFF_MIN_MS << shift,
			  (uint64_t)LLM_BACKOFF_MAX_MS);

	w->failures++;
	if (w->restart_timer.armed)
		return;
	if (loop_timer_arm(w->pool->k->loop, &w->restart_timer, ms) < 0)
		log_error("llm worker %u: cannot arm the restart timer",
			  w->idx);
}

/* The slot gives up on its process: kill it (its ops then drain), tell the
 * owner, and plan the next start. */
static void proc_lost(struct llm_proc *p, const char *why)
{
	struct llm_worker *w = p->w;
	struct llm_pool *pool;

	if (!w)
		return;
	pool = w->pool;
	p->w = NULL;
	w->proc = NULL;
	if (!p->reaped)
		(void)kill(-p->pid, SIGKILL);
	if (p->writing)
		(void)loop_cancel(p->loop, &p->write_op);
	if (w->ready_timer.armed)
		(void)loop_timer_cancel(pool->k->loop, &w->ready_timer);

	bool was_ready = w->ready;
	w->ready = false;
	w->inflight = 0;
	snprintf(pool->error, sizeof(pool->error), "llm worker %s", why);
	if (was_ready) {
		log_warn("llm worker %u (pid %d) %s; restarting", w->idx,
			 (int)p->pid, why);
		if (loop_now_ms() - w->ready_ms >= LLM_STABLE_MS)
			w->failures = 0;
		w->start_failed = false;
	} else {
		log_warn("llm worker %u (pid %d) %s before it was ready",
			 w->idx, (int)p->pid, why);
		w->start_failed = true;
	}
	schedule_restart(w);
	proc_unref(p);
	if (was_ready)
		pool->ops->lost(pool->data, w->idx, why);
	else
		pool_check_unavailable(pool);
}

static void describe_exit(char *buf, size_t len, int code, int sig)
{
	if (sig)
		snprintf(buf, len, "was killed by signal %d (%s)", sig,
			 strsignal(sig));
	else
		snprintf(buf, len, "exited with status %d%s", code,
			 code == 1 ? " (is llm_worker installed for that "
				     "python? see the kernel log)" :
				     "");
}

static int exit_arm(struct llm_proc *p)
{
	int r = loop_poll(p->loop, &p->exit_op, p->pidfd, POLLIN);
	if (r == 0)
		p->refs++;
	return r;
}

static void on_exit_poll(struct loop_op *op, int res, uint32_t flags)
{
	struct llm_proc *p = container_of(op, struct llm_proc, exit_op);
	char why[160];
	int code, sig;

	if (!p->reaped) {
		int r = proc_reap(p->pidfd, &code, &sig);
		if (r == -EAGAIN && res >= 0 && exit_arm(p) == 0)
			goto out;
		p->reaped = true;
		if (r == 0)
			describe_exit(why, sizeof(why), code, sig);
		else
			snprintf(why, sizeof(why), "could not be watched: %s",
				 strerror(-(r == -EAGAIN ? -res : r)));
		proc_lost(p, why);
	}
out:
	proc_unref(p);
}

static void handle_message(struct llm_proc *p, json_t *msg)
{
	struct llm_worker *w = p->w;
	const char *type = json_string_value(json_object_get(msg, "type"));

	if (!w || !type)
		return;
	if (strcmp(type, "ready") == 0) {
		if (w->ready)
			return;
		w->ready = true;
		w->start_failed = false;
		w->ready_ms = loop_now_ms();
		if (w->ready_timer.armed)
			(void)loop_timer_cancel(w->pool->k->loop,
						&w->ready_timer);
		log_info("llm worker %u ready (pid %d)", w->idx, (int)p->pid);
		w->pool->ops->ready(w->pool->data);
	} else if (w->ready && (strcmp(type, "chunk") == 0 ||
				strcmp(type, "result") == 0)) {
		w->pool->ops->message(w->pool->data, w->idx, msg);
	} else {
		log_debug("llm worker %u: ignoring a '%s' message", w->idx,
			  type);
	}
}

static int read_arm(struct llm_proc *p);

/* Takes every whole frame out of the read buffer. */
static int drain_frames(struct llm_proc *p)
{
	char why[256];
	size_t off = 0;
	int r;

	for (;;) {
		json_t *msg = NULL;
		size_t used = 0;
		r = llm_frame_decode(p->rbuf + off, p->rlen - off, &msg, &used,
				     why, sizeof(why));
		if (r > 0)
			break;
		if (r < 0) {
			char text[300];
			snprintf(text, sizeof(text), "broke the protocol: %s",
				 why);
			proc_lost(p, text);
			return r;
		}
		off += used;
		handle_message(p, msg);
		json_decref(msg);
		if (!p->w)
			return -ECANCELED;
	}
	memmove(p->rbuf, p->rbuf + off, p->rlen - off);
	p->rlen -= off;
	/* Room for the frame in progress (its size is known once its
	 * header is in). */
	size_t need = p->rlen + (size_t)r;
	if (need < p->rlen + LLM_READ_CHUNK)
		need = p->rlen + LLM_READ_CHUNK;
	if (need > p->rcap) {
		size_t cap = MIN(MAX(p->rcap * 2, need),
				 (size_t)LLM_FRAME_MAX + LLM_FRAME_HEADER);
		uint8_t *b = realloc(p->rbuf, cap);
		if (!b) {
			proc_lost(p, "could not be read: out of memory");
			return -ENOMEM;
		}
		p->rbuf = b;
		p->rcap = cap;
	}
	return 0;
}

static void on_read(struct loop_op *op, int res, uint32_t flags)
{
	struct llm_proc *p = container_of(op, struct llm_proc, read_op);

	p->reading = false;
	if (res > 0 && p->w) {
		p->rlen += (size_t)res;
		if (drain_frames(p) == 0 && read_arm(p) < 0)
			proc_lost(p, "could not be read");
	} else if (p->w && res != -EINTR && res != -EAGAIN) {
		/* EOF: usually the process is exiting, and its exit poll will
		 * say how; one that lives on without its output is given up
		 * after a grace period. */
		if (loop_timer_arm(p->loop, &p->eof_timer, LLM_EOF_GRACE_MS) ==
		    0)
			p->refs++;
		else
			proc_lost(p, "closed its output");
	} else if (p->w && read_arm(p) < 0) {
		proc_lost(p, "could not be read");
	}
	proc_unref(p);
}

static void on_eof_timer(struct loop_timer *t, int res)
{
	struct llm_proc *p = container_of(t, struct llm_proc, eof_timer);

	if (res == -ETIME && p->w)
		proc_lost(p, "closed its output");
	proc_unref(p);
}

static int read_arm(struct llm_proc *p)
{
	if (p->rcap - p->rlen == 0)
		return -ENOBUFS;
	int r = loop_read(p->loop, &p->read_op, p->out_fd, p->rbuf + p->rlen,
			  p->rcap - p->rlen, -1);
	if (r == 0) {
		p->reading = true;
		p->refs++;
	}
	return r;
}

static void write_next(struct llm_proc *p);

static void on_write(struct loop_op *op, int res, uint32_t flags)
{
	struct llm_proc *p = container_of(op, struct llm_proc, write_op);

	p->writing = false;
	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		proc_lost(p, "stopped reading its input");
	} else if (p->w) {
		if (res > 0)
			p->woff += (size_t)res;
		if (p->wq && p->woff == p->wq->len) {
			struct wframe *f = p->wq;
			p->wq = f->next;
			if (!p->wq)
				p->wq_tail = NULL;
			p->woff = 0;
			p->wq_bytes -= f->len;
			free(f->data);
			free(f);
		}
		write_next(p);
	}
	proc_unref(p);
}

static void on_lost_timer(struct loop_timer *t, int res)
{
	struct llm_proc *p = container_of(t, struct llm_proc, lost_timer);

	if (p->w)
		proc_lost(p, p->lost_why);
	proc_unref(p);
}

/* proc_lost() later, never from inside a send: the owner may be sending a
 * cancel for a call it is stopping, or a call it has not yet recorded as
 * sent, and must not see its calls requeued under it. */
static void proc_lose_later(struct llm_proc *p, const char *why)
{
	if (p->lost_why || !p->w)
		return;
	p->lost_why = why;
	if (loop_timer_arm(p->loop, &p->lost_timer, 0) == 0) {
		p->refs++;
		return;
	}
	/* No timer: the exit poll reports the killed process instead. */
	if (!p->reaped)
		(void)kill(-p->pid, SIGKILL);
}

static void write_next(struct llm_proc *p)
{
	if (p->writing || !p->wq || !p->w || p->lost_why)
		return;
	if (loop_write(p->loop, &p->write_op, p->in_fd, p->wq->data + p->woff,
		       p->wq->len - p->woff, -1) < 0) {
		proc_lose_later(p, "could not be written to");
		return;
	}
	p->writing = true;
	p->refs++;
}

static int proc_send(struct llm_proc *p, const json_t *msg)
{
	struct wframe *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	r = llm_frame_encode(msg, &f->data, &f->len);
	if (r < 0) {
		free(f);
		return r;
	}
	if (p->wq_tail)
		p->wq_tail->next = f;
	else
		p->wq = f;
	p->wq_tail = f;
	p->wq_bytes += f->len;
	if (p->wq_bytes > LLM_WQ_MAX) {
		/* Its calls, this one included, go to the next worker. */
		proc_lose_later(p, "stopped reading its input (64 MiB unsent)");
		return 0;
	}
	write_next(p);
	return 0;
}

static int make_pipe(int fds[2])
{
	return pipe2(fds, O_CLOEXEC) < 0 ? negative_errno() : 0;
}

static int proc_spawn_worker(struct llm_pool *pool, struct llm_proc *p,
			     char *err, size_t errlen)
{
	_cleanup_close_ int child_in = -EBADF, child_out = -EBADF;
	char *argv[] = { pool->python, "-m", "llm_worker", NULL };
	struct proc_failure fail = { 0 };
	int fds[2], r;

	if ((r = make_pipe(fds)) < 0)
		goto fail;
	child_in = fds[0];
	p->in_fd = fds[1];
	if ((r = make_pipe(fds)) < 0)
		goto fail;
	p->out_fd = fds[0];
	child_out = fds[1];

	struct proc_spec spec = {
		.path = pool->python,
		.argv = argv,
		.envp = pool->envp,
		.cwd = "/",
		.stdin_fd = child_in,
		.stdout_fd = child_out,
		/* The worker's tracebacks belong in the kernel's log. */
		.stderr_fd = STDERR_FILENO,
		.pass_fd = -1,
		.cgroup_fd = -EBADF,
	};
	r = proc_spawn(&spec, &p->pid, &p->pidfd, &fail);
	if (r < 0)
		goto fail;
	return 0;
fail:
	if (fail.step)
		snprintf(err, errlen, "could not start %s: %s: %s",
			 pool->python, fail.step, strerror(fail.err));
	else
		snprintf(err, errlen, "could not start %s: %s", pool->python,
			 strerror(-r));
	return r;
}

static void worker_start(struct llm_worker *w)
{
	struct llm_pool *pool = w->pool;
	struct llm_proc *p;
	char err[200];

	if (w->proc || pool->k->shutting_down)
		return;
	p = calloc(1, sizeof(*p));
	if (p)
		p->rbuf = malloc(LLM_READ_CHUNK);
	if (!p || !p->rbuf) {
		free(p);
		snprintf(pool->error, sizeof(pool->error),
			 "llm worker could not start: out of memory");
		goto failed;
	}
	*p = (struct llm_proc){
		.w = w,
		.loop = pool->k->loop,
		.refs = 1,
		.pid = -1,
		.pidfd = -EBADF,
		.in_fd = -EBADF,
		.out_fd = -EBADF,
		.exit_op.fn = on_exit_poll,
		.read_op.fn = on_read,
		.write_op.fn = on_write,
		.eof_timer.fn = on_eof_timer,
		.lost_timer.fn = on_lost_timer,
		.rbuf = p->rbuf,
		.rcap = LLM_READ_CHUNK,
	};
	p->pool = pool;
	p->next = pool->procs;
	if (pool->procs)
		pool->procs->prev = p;
	pool->procs = p;
	if (proc_spawn_worker(pool, p, err, sizeof(err)) < 0) {
		snprintf(pool->error, sizeof(pool->error), "llm worker %s",
			 err);
		log_warn("%s", pool->error);
		proc_free(p);
		goto failed;
	}
	w->proc = p;
	w->starts++;
	if (exit_arm(p) < 0 || read_arm(p) < 0) {
		proc_lost(p, "could not be watched");
		return;
	}
	if (loop_timer_arm(pool->k->loop, &w->ready_timer,
			   LLM_READY_TIMEOUT_MS) < 0)
		log_warn("llm worker %u: cannot arm the ready timer", w->idx);
	log_debug("llm worker %u started (pid %d)", w->idx, (int)p->pid);
	return;
failed:
	w->start_failed = true;
	schedule_restart(w);
	pool_check_unavailable(pool);
}

static void on_restart_timer(struct loop_timer *t, int res)
{
	struct llm_worker *w = container_of(t, struct llm_worker,
					    restart_timer);
	if (res == -ETIME)
		worker_start(w);
}

static void on_ready_timer(struct loop_timer *t, int res)
{
	struct llm_worker *w = container_of(t, struct llm_worker, ready_timer);
	if (res == -ETIME && w->proc && !w->ready)
		proc_lost(w->proc, "said nothing for 30 s after it started");
}

static char **strv_copy(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **c = calloc(n + 1, sizeof(char *));
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			for (size_t j = 0; j < i; j++)
				free(c[j]);
			free(c);
			return NULL;
		}
	return c;
}

int llm_pool_new(struct kernel *k, const struct llm_pool_params *p,
		 const struct llm_pool_ops *ops, void *data,
		 struct llm_pool **ret)
{
	struct llm_pool *pool = calloc(1, sizeof(*pool));

	if (!pool)
		return -ENOMEM;
	pool->k = k;
	pool->ops = ops;
	pool->data = data;
	pool->nworkers = MAX(1u, MIN(p->workers, LLM_POOL_MAX_WORKERS));
	pool->python = strdup(p->python);
	pool->envp = strv_copy(p->envp);
	if (!pool->python || !pool->envp) {
		llm_pool_free(pool);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < pool->nworkers; i++) {
		struct llm_worker *w = &pool->workers[i];
		w->pool = pool;
		w->idx = i;
		w->restart_timer.fn = on_restart_timer;
		w->ready_timer.fn = on_ready_timer;
	}
	*ret = pool;
	return 0;
}

void llm_pool_free(struct llm_pool *pool)
{
	if (!pool)
		return;
	/* After the loop is gone: nothing completes any more, so every
	 * process, its slot's or one given up on whose operations were still
	 * in flight, is killed, reaped and freed here. */
	while (pool->procs) {
		struct llm_proc *p = pool->procs;
		if (!p->reaped && p->pid > 0) {
			(void)kill(-p->pid, SIGKILL);
			siginfo_t si;
			(void)waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si,
				     WEXITED);
		}
		proc_free(p);
	}
	if (pool->envp)
		for (char **e = pool->envp; *e; e++)
			free(*e);
	free(pool->envp);
	free(pool->python);
	free(pool);
}

void llm_pool_stop(struct llm_pool *pool)
{
	for (unsigned i = 0; pool && i < pool->nworkers; i++) {
		struct llm_worker *w = &pool->workers[i];
		if (w->restart_timer.armed)
			(void)loop_timer_cancel(pool->k->loop,
						&w->restart_timer);
		if (w->proc && !w->proc->reaped)
			(void)kill(-w->proc->pid, SIGKILL);
	}
}

void llm_pool_start(struct llm_pool *pool)
{
	if (pool->started)
		return;
	pool->started = true;
	for (unsigned i = 0; i < pool->nworkers; i++)
		worker_start(&pool->workers[i]);
}

/* Ready, and not about to be given up on. */
static bool worker_usable(const struct llm_worker *w)
{
	return w->ready && w->proc && !w->proc->lost_why;
}

int llm_pool_send(struct llm_pool *pool, const json_t *msg)
{
	struct llm_worker *best = NULL;

	for (unsigned i = 0; i < pool->nworkers; i++) {
		struct llm_worker *w = &pool->workers[i];
		if (worker_usable(w) &&
		    (!best || w->inflight < best->inflight))
			best = w;
	}
	if (!best)
		return -EAGAIN;
	int r = proc_send(best->proc, msg);
	if (r < 0)
		return r;
	best->inflight++;
	return (int)best->idx;
}

int llm_pool_send_to(struct llm_pool *pool, unsigned worker,
		     const json_t *msg)
{
	if (worker >= pool->nworkers || !pool->workers[worker].ready ||
	    !pool->workers[worker].proc)
		return -ESRCH;
	return proc_send(pool->workers[worker].proc, msg);
}

void llm_pool_call_done(struct llm_pool *pool, unsigned worker)
{
	if (worker < pool->nworkers && pool->workers[worker].inflight > 0)
		pool->workers[worker].inflight--;
}

bool llm_pool_ready(const struct llm_pool *pool)
{
	for (unsigned i = 0; i < pool->nworkers; i++)
		if (worker_usable(&pool->workers[i]))
			return true;
	return false;
}

bool llm_pool_unavailable(const struct llm_pool *pool)
{
	if (!pool->started)
		return false;
	for (unsigned i = 0; i < pool->nworkers; i++)
		if (pool->workers[i].ready || !pool->workers[i].start_failed)
			return false;
	return true;
}

const char *llm_pool_error(const struct llm_pool *pool)
{
	return pool->error[0] ? pool->error : NULL;
}

json_t *llm_pool_json(const struct llm_pool *pool)
{
	json_t *pids = json_array();
	unsigned ready = 0, restarts = 0;

	for (unsigned i = 0; i < pool->nworkers; i++) {
		const struct llm_worker *w = &pool->workers[i];
		ready += w->ready;
		restarts += w->starts > 1 ? w->starts - 1 : 0;
		if (w->proc && pids)
			json_array_append_new(pids,
					      json_integer(w->proc->pid));
	}
	return json_pack("{s:i, s:b, s:i, s:i, s:o, s:s?}", "workers",
			 (int)pool->nworkers, "started", pool->started,
			 "ready", (int)ready, "restarts",
			 (int)restarts, "pids", pids ? pids : json_array(),
			 "error", ready ? NULL : llm_pool_error(pool));
}
