/* SPDX-License-Identifier: MIT */
/*
 * The cgroup manager: picks the backends for the detected layout (v2 alone,
 * v2 for identity plus v1 for controllers, or v1 alone), creates and
 * releases agents' cgroups through them, and removes released cgroups —
 * at once when they are empty, else on a loop timer with backoff, killing
 * again on every try, because a process that is being killed keeps its
 * cgroup busy for a moment and rmdir must never wait on the loop. At start
 * it sweeps what a kernel that died without cleaning up left behind in the
 * same instance directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "macro.h"

#define CGROUP_RETRY_FIRST_MS 10
#define CGROUP_RETRY_MAX_MS   1000
/* Leftover cgroups the sweep looks at, at most. */
#define CGROUP_SWEEP_MAX 4096

static void cgroup_retry_fired(struct loop_timer *t, int res);

static void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	if (cg->fd >= 0)
		close(cg->fd);
	if (cg->procs_v2_fd >= 0)
		close(cg->procs_v2_fd);
	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++) {
		if (cg->v1_fd[c] >= 0)
			close(cg->v1_fd[c]);
		if (cg->procs_fd[c] >= 0)
			close(cg->procs_fd[c]);
		free(cg->v1_dir[c]);
	}
	free(cg->unified_dir);
	free(cg->path);
	free(cg);
}

static void cgroup_freep(struct cgroup **cg)
{
	cgroup_free(*cg);
}

static struct cgroup *cgroup_alloc(struct cgroup_manager *m, const char *name)
{
	struct cgroup *cg;
	size_t len = strlen(name);

	if (len == 0 || len > CGROUP_NAME_MAX || strchr(name, '/') ||
	    name[0] == '.')
		return NULL;
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return NULL;
	cg->m = m;
	cg->fd = cg->procs_v2_fd = -EBADF;
	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++)
		cg->v1_fd[c] = cg->procs_fd[c] = -EBADF;
	memcpy(cg->name, name, len + 1);
	cg->enforced = CGROUP_LIMITS_NONE;
	return cg;
}

static int read_self_cgroup(char **ret)
{
	char buf[8192];
	int r = cgroup_read(AT_FDCWD, "/proc/self/cgroup", buf, sizeof(buf));

	if (r < 0)
		return r;
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static int manager_init(struct cgroup_manager *m,
			const struct cgroup_config *cfg, char *err,
			size_t errlen)
{
	int r;

	m->unified.fd = -EBADF;
	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++) {
		m->v1h[c].fd = -EBADF;
		cgroup_set_missing(m, (enum cgroup_controller)c,
				   "this host has no %s controller",
				   cgroup_controller_name(c));
	}
	m->root = strdup(cfg->root ? cfg->root : "/sys/fs/cgroup");
	m->instance = strdup(cfg->instance ? cfg->instance : "default");
	if (!m->root || !m->instance)
		return -ENOMEM;
	if (cfg->self_cgroup) {
		m->self_cgroup = strdup(cfg->self_cgroup);
		r = m->self_cgroup ? 0 : -ENOMEM;
	} else {
		r = read_self_cgroup(&m->self_cgroup);
	}
	if (r < 0)
		snprintf(err, errlen, "cannot read /proc/self/cgroup: %s",
			 strerror(-r));
	return r;
}

int cgroup_manager_new(const struct cgroup_config *cfg,
		       struct cgroup_manager **ret, char *err, size_t errlen)
{
	struct cgroup_manager *m = calloc(1, sizeof(*m));
	char v1err[256] = "";
	int r;

	if (!m)
		return -ENOMEM;
	r = manager_init(m, cfg, err, errlen);
	if (r < 0)
		goto fail;
	m->layout = cfg->layout;
	if (m->layout == CGROUP_LAYOUT_NONE)
		(void)cgroup_detect(m->root, &m->layout);
	if (m->layout == CGROUP_LAYOUT_NONE) {
		snprintf(err, errlen, "no cgroup filesystem is mounted at %s",
			 m->root);
		r = -ENOENT;
		goto fail;
	}
	if (m->layout != CGROUP_LAYOUT_V1) {
		m->v2 = &cgroup_v2_ops;
		r = m->v2->setup(m, err, errlen);
		if (r < 0)
			goto fail;
	}
	if (m->layout != CGROUP_LAYOUT_V2) {
		m->v1 = &cgroup_v1_ops;
		r = m->v1->setup(m, v1err, sizeof(v1err));
		/* Hybrid: the v2 tree still gives identity, kill, freeze. */
		if (r < 0 && m->layout == CGROUP_LAYOUT_V1) {
			snprintf(err, errlen, "%s", v1err);
			goto fail;
		}
		if (r < 0)
			m->v1 = NULL;
	}
	*ret = m;
	return 0;
fail:
	(void)cgroup_manager_free(m, 0);
	return r;
}

void cgroup_manager_set_loop(struct cgroup_manager *m, struct loop *l)
{
	m->loop = l;
	m->timer.fn = cgroup_retry_fired;
}

enum cgroup_layout cgroup_manager_layout(const struct cgroup_manager *m)
{
	return m->layout;
}

const char *cgroup_manager_missing(const struct cgroup_manager *m,
				   enum cgroup_controller c)
{
	if (c == CGROUP_FREEZER && m->v2)
		return NULL;
	if (cgroup_has(m->v2_controllers | m->v1_controllers, c))
		return NULL;
	return m->missing[c];
}

bool cgroup_manager_can_freeze(const struct cgroup_manager *m)
{
	return m->v2 || cgroup_has(m->v1_controllers, CGROUP_FREEZER);
}

const char *cgroup_manager_dir(const struct cgroup_manager *m)
{
	if (m->unified.dir)
		return m->unified.dir;
	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++)
		if (m->v1h[c].dir)
			return m->v1h[c].dir;
	return NULL;
}

unsigned cgroup_manager_pending(const struct cgroup_manager *m)
{
	return m->npending;
}

/* Removes what is left of cg: 0 when every directory is gone. */
static int cgroup_try_remove(struct cgroup *cg)
{
	struct cgroup_manager *m = cg->m;
	int r = 0, q;

	if (m->v2 && (q = m->v2->remove(cg)) < 0)
		r = q;
	if (m->v1 && (q = m->v1->remove(cg)) < 0 && !r)
		r = q;
	return r;
}

static void cgroup_arm_retry(struct cgroup_manager *m)
{
	if (!m->loop || m->timer.armed || !m->pending)
		return;
	if (m->retry_ms == 0)
		m->retry_ms = CGROUP_RETRY_FIRST_MS;
	(void)loop_timer_arm(m->loop, &m->timer, m->retry_ms);
}

/* One pass over the pending list; returns how many are left. */
static unsigned cgroup_retry_pass(struct cgroup_manager *m)
{
	struct cgroup **pp = &m->pending;

	while (*pp) {
		struct cgroup *cg = *pp;

		/* Whatever got in (a fork racing the kill) dies too. */
		(void)cgroup_kill(cg);
		if (cgroup_try_remove(cg) == 0) {
			*pp = cg->next;
			m->npending--;
			cgroup_free(cg);
			continue;
		}
		pp = &cg->next;
	}
	return m->npending;
}

static void cgroup_retry_fired(struct loop_timer *t, int res)
{
	struct cgroup_manager *m =
		container_of(t, struct cgroup_manager, timer);

	if (cgroup_retry_pass(m) == 0) {
		m->retry_ms = 0;
		return;
	}
	m->retry_ms = MIN(m->retry_ms * 2, CGROUP_RETRY_MAX_MS);
	cgroup_arm_retry(m);
}

void cgroup_release(struct cgroup *cg)
{
	struct cgroup_manager *m;

	if (!cg)
		return;
	m = cg->m;
	(void)cgroup_kill(cg);
	/* A thawed cgroup: nothing cloned into it later may stay frozen, and
	 * on v1 frozen tasks would not even die. */
	if (cgroup_manager_can_freeze(m))
		(void)cgroup_freeze(cg, false);
	if (cgroup_try_remove(cg) == 0) {
		cgroup_free(cg);
		return;
	}
	cg->next = m->pending;
	m->pending = cg;
	m->npending++;
	cgroup_arm_retry(m);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void hier_remove(struct cgroup_hier *h)
{
	if (h->fd < 0)
		return;
	if (h->dir && rmdir(h->dir) == 0) {
		/* The shared parent goes too when no other instance uses it. */
		char *slash = strrchr(h->dir, '/');

		if (slash) {
			*slash = '\0';
			(void)rmdir(h->dir);
		}
	}
	cgroup_hier_close(h);
}

unsigned cgroup_manager_free(struct cgroup_manager *m, unsigned wait_ms)
{
	unsigned left, waited = 0;

	if (!m)
		return 0;
	while ((left = cgroup_retry_pass(m)) > 0 && waited < wait_ms) {
		sleep_ms(10);
		waited += 10;
	}
	while (m->pending) {
		struct cgroup *cg = m->pending;

		m->pending = cg->next;
		cgroup_free(cg);
	}
	/* An instance directory that still holds cgroups stays. */
	hier_remove(&m->unified);
	for (int c = 0; c < CGROUP_CONTROLLER_MAX; c++)
		hier_remove(&m->v1h[c]);
	free(m->root);
	free(m->instance);
	free(m->self_cgroup);
	free(m);
	return left;
}

/* Whether processes may be in cg (when in doubt, yes). Killing an empty v2
 * cgroup is not free: see cgroup_kill(). */
static bool cgroup_busy(struct cgroup *cg)
{
	uint64_t populated;

	if (cg->fd >= 0 && cgroup_read_key(cg->fd, "cgroup.events", "populated",
					   &populated) == 0)
		return populated != 0;
	return true;
}

int cgroup_new(struct cgroup_manager *m, const char *name,
	       const struct cgroup_limits *lim, struct cgroup **ret, char *err,
	       size_t errlen)
{
	_cleanup_(cgroup_freep) struct cgroup *cg = cgroup_alloc(m, name);
	int r = 0, existed = 0;

	if (!cg) {
		snprintf(err, errlen, "invalid cgroup name '%s' or no memory",
			 name);
		return -EINVAL;
	}
	if (m->v2 && (r = m->v2->create(cg, err, errlen)) > 0)
		existed = 1;
	if (r >= 0 && m->v1 && (r = m->v1->create(cg, err, errlen)) > 0)
		existed = 1;
	if (r >= 0 && existed && cgroup_busy(cg))
		/* A leftover of ours that could not be removed before: it
		 * starts empty. */
		(void)cgroup_kill(cg);
	if (r >= 0 && m->v2)
		r = m->v2->apply(cg, lim, err, errlen);
	if (r >= 0 && m->v1)
		r = m->v1->apply(cg, lim, err, errlen);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		(void)cgroup_try_remove(cg);
		return r;
	}
	*ret = take_ptr(cg);
	return 0;
}

int cgroup_fd(const struct cgroup *cg)
{
	return cg->fd;
}

int cgroup_clone_fd(const struct cgroup *cg)
{
	return cg->killed ? -EBADF : cg->fd;
}

size_t cgroup_attach_fds(const struct cgroup *cg, const int **ret)
{
	*ret = cg->attach;
	return cg->nattach;
}

const struct cgroup_limits *cgroup_enforced(const struct cgroup *cg)
{
	return &cg->enforced;
}

const char *cgroup_path(const struct cgroup *cg)
{
	return cg->path;
}

const char *cgroup_unified_dir(const struct cgroup *cg)
{
	return cg->unified_dir;
}

const char *cgroup_v1_dir(const struct cgroup *cg, enum cgroup_controller c)
{
	return (unsigned)c < CGROUP_CONTROLLER_MAX ? cg->v1_dir[c] : NULL;
}

int cgroup_kill(struct cgroup *cg)
{
	struct cgroup_manager *m = cg->m;

	if (!m->v2)
		return m->v1 ? m->v1->kill(cg) : -EOPNOTSUPP;
	/* Kernel quirk (seen on 6.18): once cgroup.kill was written, every
	 * later clone3 CLONE_INTO_CGROUP into that cgroup is SIGKILLed at
	 * birth (the child's kill sequence is taken from its parent's
	 * cgroup), while joining through cgroup.procs works. So a killed
	 * cgroup — a restart, a reused leftover — is joined that way. */
	if (!cg->killed && cg->procs_v2_fd >= 0) {
		cg->attach[cg->nattach++] = cg->procs_v2_fd;
		cg->killed = true;
	}
	return m->v2->kill(cg);
}

int cgroup_freeze(struct cgroup *cg, bool frozen)
{
	struct cgroup_manager *m = cg->m;

	if (m->v2)
		return m->v2->freeze(cg, frozen);
	return m->v1 ? m->v1->freeze(cg, frozen) : -EOPNOTSUPP;
}

int cgroup_frozen(struct cgroup *cg)
{
	struct cgroup_manager *m = cg->m;

	if (m->v2)
		return m->v2->frozen(cg);
	return m->v1 ? m->v1->frozen(cg) : -EOPNOTSUPP;
}

int cgroup_counters(struct cgroup *cg, struct cgroup_counters *ret)
{
	struct cgroup_manager *m = cg->m;
	struct cgroup_counters c = { 0 };
	int r = 0;

	if (m->v2)
		r = m->v2->counters(cg, &c);
	if (r >= 0 && m->v1)
		r = m->v1->counters(cg, &c);
	if (r >= 0)
		*ret = c;
	return r;
}

/* Adds the subdirectory names of dfd to names (no duplicates). */
static int collect_names(int dfd, char ***names, size_t *n)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int r = 0;

	if (!d) {
		r = negative_errno();
		if (fd >= 0)
			close(fd);
		return r;
	}
	while ((e = readdir(d)) && *n < CGROUP_SWEEP_MAX) {
		bool seen = false;

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < *n && !seen; i++)
			seen = strcmp((*names)[i], e->d_name) == 0;
		if (seen)
			continue;
		char **v = realloc(*names, (*n + 1) * sizeof(**names));
		if (!v || !(v[*n] = strdup(e->d_name))) {
			if (v)
				*names = v;
			r = -ENOMEM;
			break;
		}
		*names = v;
		(*n)++;
	}
	closedir(d);
	return r;
}

static int sweep_one(struct cgroup_manager *m, const char *name)
{
	struct cgroup *cg = cgroup_alloc(m, name);
	int r = 0;

	if (!cg)
		return -ENOMEM;
	if (m->v2)
		r = m->v2->open(cg);
	if (r >= 0 && m->v1)
		r = m->v1->open(cg);
	cgroup_release(cg);
	return r;
}

int cgroup_manager_sweep(struct cgroup_manager *m)
{
	char **names = NULL;
	size_t n = 0;
	int r = 0;

	if (m->unified.fd >= 0)
		r = collect_names(m->unified.fd, &names, &n);
	for (int c = 0; r >= 0 && c < CGROUP_CONTROLLER_MAX; c++)
		if (m->v1h[c].fd >= 0)
			r = collect_names(m->v1h[c].fd, &names, &n);
	for (size_t i = 0; i < n; i++) {
		if (r >= 0) {
			int q = sweep_one(m, names[i]);
			if (q < 0)
				r = q;
		}
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : (int)n;
}
