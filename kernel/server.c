/* SPDX-License-Identifier: MIT */
/*
 * Listening socket. A second cloved on the same path is detected with an
 * flock on "<socket>.lock" (held for the kernel's life), not by probing the
 * socket, so a stale socket file from a crashed kernel is simply replaced.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "conn.h"
#include "kernel.h"
#include "log.h"
#include "loop.h"

struct server {
	struct kernel *k;
	int fd;
	int lock_fd;
	struct loop_op accept_op;
	bool accepting;
	/* Out of fds: accepting again waits on this timer instead of failing
	 * again at once in a loop. */
	struct loop_timer retry;
	bool fd_warning_logged;
	char path[PATH_MAX];
	char lock_path[PATH_MAX + 8];
};

static void arm_accept(struct server *s)
{
	if (!s->accepting && !s->k->shutting_down &&
	    loop_accept(s->k->loop, &s->accept_op, s->fd) == 0)
		s->accepting = true;
}

static void on_retry(struct loop_timer *t, int res)
{
	struct server *s = container_of(t, struct server, retry);
	if (res == -ETIME)
		arm_accept(s);
}

static void on_accept(struct loop_op *op, int res, uint32_t flags)
{
	struct server *s = container_of(op, struct server, accept_op);
	bool out_of_fds = res == -EMFILE || res == -ENFILE;

	if (res >= 0) {
		s->fd_warning_logged = false;
		if (s->k->shutting_down) {
			close(res);
		} else {
			int r = conn_new_operator(s->k, res, NULL);
			if (r < 0)
				log_warn("accept: %s", strerror(-r));
		}
	} else if (out_of_fds) {
		if (!s->fd_warning_logged)
			log_warn("accept: %s; new connections wait until fds "
				 "free up", strerror(-res));
		s->fd_warning_logged = true;
	} else if (res != -ECANCELED) {
		log_warn("accept: %s", strerror(-res));
	}

	if (loop_more(flags))
		return;
	s->accepting = false;
	if (res == -ECANCELED)
		return;
	if (out_of_fds) {
		if (loop_timer_arm(s->k->loop, &s->retry, 100) < 0)
			arm_accept(s);
	} else {
		arm_accept(s);
	}
}

/* The socket's directory must be ours and writable by nobody else, or
 * another user could swap the socket for their own. */
static int prepare_dir(const char *path, char *msg, size_t msglen)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	const char *dir = dirname(tmp);

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int r = negative_errno();
		snprintf(msg, msglen, "cannot create socket directory %s: %s",
			 dir, strerror(-r));
		return r;
	}
	struct stat st;
	if (stat(dir, &st) < 0) {
		int r = negative_errno();
		snprintf(msg, msglen, "cannot stat %s: %s", dir, strerror(-r));
		return r;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(msg, msglen,
			 "socket directory %s must be owned by uid %u and not "
			 "writable by group or others (it is uid %u, mode %03o)",
			 dir, geteuid(), st.st_uid, st.st_mode & 0777);
		return -EPERM;
	}
	return 0;
}

static int take_lock(struct server *s, char *msg, size_t msglen)
{
	snprintf(s->lock_path, sizeof(s->lock_path), "%s.lock", s->path);
	s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		int r = negative_errno();
		snprintf(msg, msglen, "cannot open %s: %s", s->lock_path,
			 strerror(-r));
		return r;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int r = negative_errno();
		if (r == -EWOULDBLOCK) {
			snprintf(msg, msglen,
				 "another cloved is already running on %s "
				 "(it holds %s); stop it or use --socket",
				 s->path, s->lock_path);
			return -EADDRINUSE;
		}
		snprintf(msg, msglen, "cannot lock %s: %s", s->lock_path,
			 strerror(-r));
		return r;
	}
	return 0;
}

static int bind_socket(struct server *s, char *msg, size_t msglen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(s->path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msglen, "socket path too long (max %zu): %s",
			 sizeof(sa.sun_path) - 1, s->path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, s->path);

	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return negative_errno();
	/* We hold the lock, so a socket file here is a crashed kernel's. */
	(void)unlink(s->path);
	mode_t old = umask(0117);
	int r = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(s->path, 0660) < 0 || listen(s->fd, 4096) < 0) {
		r = negative_errno();
		snprintf(msg, msglen, "cannot listen on %s: %s", s->path,
			 strerror(-r));
		return r;
	}
	return 0;
}

int server_new(struct kernel *k, struct server **ret, char *msg, size_t msglen)
{
	struct server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->k = k;
	s->fd = s->lock_fd = -EBADF;
	s->accept_op.fn = on_accept;
	s->retry.fn = on_retry;
	snprintf(s->path, sizeof(s->path), "%s", k->cfg.socket_path);

	int r = prepare_dir(s->path, msg, msglen);
	if (r >= 0)
		r = take_lock(s, msg, msglen);
	if (r >= 0)
		r = bind_socket(s, msg, msglen);
	if (r >= 0) {
		r = loop_accept(k->loop, &s->accept_op, s->fd);
		if (r < 0)
			snprintf(msg, msglen, "cannot queue accept: %s",
				 strerror(-r));
	}
	if (r < 0) {
		/* Do not remove a socket that another kernel owns. */
		if (r == -EADDRINUSE)
			s->path[0] = '\0';
		server_free(s);
		return r;
	}
	s->accepting = true;
	*ret = s;
	return 0;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	if (s->fd >= 0) {
		/* Cancelled or not, the accept's completion still names s, so
		 * the loop must not run after this: main frees the server
		 * only once the loop has stopped. */
		if (s->path[0])
			unlink(s->path);
		close(s->fd);
	}
	/* The lock file stays: unlinking it would let a waiting kernel lock
	 * the old inode while a third one creates a new file. */
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}
