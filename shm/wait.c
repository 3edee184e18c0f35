/* SPDX-License-Identifier: MIT */
/*
 * Waking the other side. Each ring has two futex words in shared memory:
 * consumer_state (1 = the consumer sleeps until data comes) and
 * producer_state (1 = the producer sleeps until room comes). The sleeper
 * stores 1, issues a full fence and looks at the ring again before it
 * sleeps; the waker publishes its index, issues a full fence and reads the
 * word. With both fences one of the two always sees the other (no lost
 * wake-up), and a side that is merely spinning leaves its word at 0, so the
 * other side rings no doorbell at all. The waker exchanges the word back to
 * 0, so a sleeper costs exactly one doorbell, and a futex wait on "1" that
 * comes after the exchange returns at once.
 *
 * The futexes are shared (no FUTEX_PRIVATE_FLAG): the words live in a
 * MAP_SHARED mapping of a memfd seen by two processes.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

#define FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static bool take_flag(uint32_t *word)
{
	/* A plain load first: the common case (nobody sleeps) stays a read
	 * of a line the other side rarely writes. */
	if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0)
		return false;
	return __atomic_exchange_n(word, 0, __ATOMIC_ACQ_REL) != 0;
}

bool shm_ring_consumer_wake_needed(struct shm_ring *r)
{
	FENCE();
	return take_flag(r->consumer_state);
}

bool shm_ring_producer_wake_needed(struct shm_ring *r)
{
	FENCE();
	return take_flag(r->producer_state);
}

bool shm_ring_consumer_prepare_sleep(struct shm_ring *r)
{
	__atomic_store_n(r->consumer_state, 1, __ATOMIC_RELAXED);
	FENCE();
	if (shm_ring_empty(r))
		return true;
	__atomic_store_n(r->consumer_state, 0, __ATOMIC_RELAXED);
	return false;
}

void shm_ring_consumer_awake(struct shm_ring *r)
{
	__atomic_store_n(r->consumer_state, 0, __ATOMIC_RELAXED);
}

bool shm_ring_producer_prepare_sleep(struct shm_ring *r, uint32_t want)
{
	__atomic_store_n(r->producer_state, 1, __ATOMIC_RELAXED);
	FENCE();
	int64_t room = shm_ring_free(r, want);
	/* A broken index is not a reason to sleep: the caller sees it. */
	if (room >= 0 && room < want)
		return true;
	__atomic_store_n(r->producer_state, 0, __ATOMIC_RELAXED);
	return false;
}

void shm_ring_producer_awake(struct shm_ring *r)
{
	__atomic_store_n(r->producer_state, 0, __ATOMIC_RELAXED);
}

int shm_futex_wait(uint32_t *word, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	long r = syscall(SYS_futex, word, FUTEX_WAIT, val, tsp, NULL, 0);
	if (r == 0 || errno == EAGAIN)
		return 0;
	return errno == ETIMEDOUT ? -ETIMEDOUT : -errno;
}

int shm_futex_wake(uint32_t *word)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
	return r < 0 ? -errno : (int)r;
}

uint64_t shm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}
