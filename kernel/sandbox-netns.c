/* SPDX-License-Identifier: MIT */
/*
 * A few empty network namespaces made ahead of time. Creating a network
 * namespace is the most expensive single step of a sandbox (about as much
 * as all its mounts together), and nothing about it depends on the agent,
 * so a helper thread makes them in advance: it unshares its own network
 * namespace, keeps an fd of the new one and goes back to its first one (so
 * it is never inside a namespace an agent gets), up to SANDBOX_NETNS_POOL
 * of them. A spawn takes one (each namespace goes to exactly one agent and is
 * never used again) and its child enters it with setns() instead of
 * clone3's CLONE_NEWNET; when the pool is empty the child simply makes its
 * own. The thread only ever touches its own namespaces and this pool: it
 * blocks every signal and never uses the kernel's loop. Only a root kernel
 * has a pool: a user-namespaced child could not enter a namespace owned by
 * the host's user namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-internal.h"

#define SANDBOX_NETNS_POOL 4

struct sandbox_netns_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int fds[SANDBOX_NETNS_POOL];
	unsigned n;
	/* The thread's own network namespace, to return to. */
	int home;
	bool stop;
	/* Making one failed: no more are tried. */
	bool broken;
};

static int make_netns(int home)
{
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return negative_errno();
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (setns(home, CLONE_NEWNET) < 0) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	return fd;
}

static void *pool_run(void *arg)
{
	struct sandbox_netns_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (p->n >= SANDBOX_NETNS_POOL) {
			pthread_cond_wait(&p->wake, &p->lock);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		int fd = make_netns(p->home);
		pthread_mutex_lock(&p->lock);
		if (fd < 0) {
			p->broken = true;
			break;
		}
		if (p->stop || p->n >= SANDBOX_NETNS_POOL)
			close(fd);
		else
			p->fds[p->n++] = fd;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int sandbox_netns_pool_new(struct sandbox_netns_pool **ret)
{
	struct sandbox_netns_pool *p = calloc(1, sizeof(*p));
	sigset_t all, old;
	int r;

	if (!p)
		return -ENOMEM;
	p->home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (p->home < 0) {
		r = negative_errno();
		free(p);
		return r;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	/* The thread starts with every signal blocked: the kernel's own
	 * must reach the thread that reads its signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&p->thread, NULL, pool_run, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		close(p->home);
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void sandbox_netns_pool_free(struct sandbox_netns_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	for (unsigned i = 0; i < p->n; i++)
		close(p->fds[i]);
	close(p->home);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int sandbox_netns_take(struct sandbox_netns_pool *p)
{
	int fd = -EAGAIN;

	if (!p)
		return -EAGAIN;
	pthread_mutex_lock(&p->lock);
	if (p->n > 0) {
		fd = p->fds[--p->n];
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	return fd;
}
