/* SPDX-License-Identifier: MIT */
/*
 * io_uring loop on liburing 2.3. Completions are reaped in batches into a
 * local array and the CQ is advanced before any callback runs, so callbacks
 * may queue new work freely. Receives use one provided-buffer ring,
 * registered by hand because liburing 2.3 has no io_uring_setup_buf_ring().
 */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "macro.h"

#define LOOP_ENTRIES 1024
#define LOOP_BATCH 256
#define BUF_GROUP 0
#define BUF_COUNT 512
#define BUF_SIZE (16 * 1024)

struct loop {
	struct io_uring ring;
	bool ring_ready;
	bool quit;
	struct io_uring_buf_ring *br;
	size_t br_size;
	uint8_t *bufs;
};

bool loop_more(uint32_t cqe_flags)
{
	return cqe_flags & IORING_CQE_F_MORE;
}

static int setup_ring(struct loop *l)
{
	static const unsigned flag_sets[] = {
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int r = -EINVAL;

	/* Newer setup flags are probed: an older kernel answers -EINVAL. */
	for (unsigned i = 0; i < ELEMENTSOF(flag_sets); i++) {
		struct io_uring_params p = { .flags = flag_sets[i] };
		r = io_uring_queue_init_params(LOOP_ENTRIES, &l->ring, &p);
		if (r != -EINVAL)
			break;
	}
	if (r < 0)
		return r;
	l->ring_ready = true;
	/* Saves an fdget per io_uring_enter; optional. */
	(void)io_uring_register_ring_fd(&l->ring);
	return 0;
}

static int setup_buffers(struct loop *l)
{
	l->br_size = BUF_COUNT * sizeof(struct io_uring_buf);
	void *br = mmap(NULL, l->br_size, PROT_READ | PROT_WRITE,
			MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		return negative_errno();
	l->br = br;

	/* Buffer pages are only touched once the kernel fills them, so idle
	 * connections cost no resident memory here. */
	void *bufs = mmap(NULL, (size_t)BUF_COUNT * BUF_SIZE,
			  PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
			  -1, 0);
	if (bufs == MAP_FAILED)
		return negative_errno();
	l->bufs = bufs;
	/* Children (EXEC commands, agents and their long-lived sandbox
	 * init, which never execs) need none of the ring's memory: not
	 * copying it keeps fork cheap and keeps an init from holding on to
	 * the buffers' pages. Failing this only costs memory. */
	(void)madvise(br, l->br_size, MADV_DONTFORK);
	(void)madvise(bufs, (size_t)BUF_COUNT * BUF_SIZE, MADV_DONTFORK);
	(void)io_uring_ring_dontfork(&l->ring);

	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)br,
		.ring_entries = BUF_COUNT,
		.bgid = BUF_GROUP,
	};
	int r = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (r < 0)
		return r;

	io_uring_buf_ring_init(l->br);
	for (unsigned i = 0; i < BUF_COUNT; i++)
		io_uring_buf_ring_add(l->br, l->bufs + (size_t)i * BUF_SIZE,
				      BUF_SIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(l->br, BUF_COUNT);
	return 0;
}

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;

	int r = setup_ring(l);
	if (r >= 0)
		r = setup_buffers(l);
	if (r < 0) {
		loop_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->ring_ready)
		io_uring_queue_exit(&l->ring);
	if (l->bufs)
		munmap(l->bufs, (size_t)BUF_COUNT * BUF_SIZE);
	if (l->br)
		munmap(l->br, l->br_size);
	free(l);
}

static int read_sysctl_int(const char *path)
{
	FILE *f = fopen(path, "re");
	int v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

const char *loop_explain(int err)
{
	int disabled = read_sysctl_int("/proc/sys/kernel/io_uring_disabled");

	if (err == -ENOSYS)
		return "this kernel has no io_uring (needs Linux 6.1 or newer, "
		       "built with CONFIG_IO_URING)";
	if (disabled == 2)
		return "io_uring is disabled by the sysctl kernel.io_uring_disabled=2; "
		       "set it to 0 (sysctl -w kernel.io_uring_disabled=0)";
	if (disabled == 1 && err == -EPERM)
		return "io_uring is limited by kernel.io_uring_disabled=1 to the group "
		       "in kernel.io_uring_group; run cloved in that group or set the "
		       "sysctl to 0";
	if (err == -EPERM)
		return "io_uring_setup was refused (EPERM), most likely by a seccomp "
		       "profile (Docker's default blocks io_uring); run cloved with a "
		       "profile that allows io_uring_setup, io_uring_enter and "
		       "io_uring_register";
	if (err == -ENOMEM)
		return "io_uring could not lock memory for its rings; raise "
		       "RLIMIT_MEMLOCK (ulimit -l) or use a kernel >= 5.12";
	return "io_uring could not be set up";
}

static struct io_uring_sqe *get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
	if (!sqe) {
		/* SQ full: push what is queued to the kernel and retry. */
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

static int queue(struct loop *l, struct io_uring_sqe *sqe, struct loop_op *op)
{
	io_uring_sqe_set_data(sqe, op);
	(void)l;
	return 0;
}

int loop_accept(struct loop *l, struct loop_op *op, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	return queue(l, sqe, op);
}

int loop_recv(struct loop *l, struct loop_op *op, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	return queue(l, sqe, op);
}

const void *loop_buf(struct loop *l, uint32_t flags)
{
	unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
	return l->bufs + (size_t)bid * BUF_SIZE;
}

void loop_buf_put(struct loop *l, uint32_t flags)
{
	unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
	io_uring_buf_ring_add(l->br, l->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE,
			      (unsigned short)bid,
			      io_uring_buf_ring_mask(BUF_COUNT), 0);
	io_uring_buf_ring_advance(l->br, 1);
}

int loop_send(struct loop *l, struct loop_op *op, int fd, const void *buf,
	      size_t len)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
	return queue(l, sqe, op);
}

int loop_read(struct loop *l, struct loop_op *op, int fd, void *buf,
	      size_t len, int64_t off)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, fd, buf, (unsigned)MIN(len, (size_t)1 << 30),
			   (uint64_t)off);
	return queue(l, sqe, op);
}

int loop_write(struct loop *l, struct loop_op *op, int fd, const void *buf,
	       size_t len, int64_t off)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_write(sqe, fd, buf, (unsigned)MIN(len, (size_t)1 << 30),
			    (uint64_t)off);
	return queue(l, sqe, op);
}

int loop_poll(struct loop *l, struct loop_op *op, int fd, unsigned events)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, events);
	return queue(l, sqe, op);
}

int loop_openat2(struct loop *l, struct loop_op *op, int dfd, const char *path,
		 struct open_how *how)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_openat2(sqe, dfd, path, how);
	return queue(l, sqe, op);
}

static void timer_fired(struct loop_op *op, int res, uint32_t flags)
{
	struct loop_timer *t = container_of(op, struct loop_timer, op);
	t->armed = false;
	t->fn(t, res);
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t ms)
{
	if (t->armed)
		return -EBUSY;
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	t->ts.tv_sec = (long long)(ms / 1000);
	t->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
	t->op.fn = timer_fired;
	io_uring_prep_timeout(sqe, &t->ts, 0, 0);
	t->armed = true;
	return queue(l, sqe, &t->op);
}

int loop_cancel(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel(sqe, op, 0);
	/* The cancel's own completion carries no owner. */
	io_uring_sqe_set_data(sqe, NULL);
	return 0;
}

int loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t->armed)
		return 0;
	return loop_cancel(l, &t->op);
}

int loop_flush(struct loop *l)
{
	int r = io_uring_submit(&l->ring);
	return r < 0 ? r : 0;
}

void loop_quit(struct loop *l)
{
	l->quit = true;
}

struct completion {
	struct loop_op *op;
	int res;
	uint32_t flags;
};

int loop_run(struct loop *l)
{
	struct completion batch[LOOP_BATCH];

	while (!l->quit) {
		int r = io_uring_submit_and_wait(&l->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return r;

		unsigned n = 0, head;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			if (n == LOOP_BATCH)
				break;
			batch[n++] = (struct completion){
				.op = io_uring_cqe_get_data(cqe),
				.res = cqe->res,
				.flags = cqe->flags,
			};
		}
		io_uring_cq_advance(&l->ring, n);

		for (unsigned i = 0; i < n; i++)
			if (batch[i].op)
				batch[i].op->fn(batch[i].op, batch[i].res,
						batch[i].flags);
	}
	return 0;
}

uint64_t loop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
