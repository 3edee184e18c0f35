/* SPDX-License-Identifier: MIT */
/*
 * The cloved that clove-bench measures: started on a socket and state
 * directory inside a fresh mkdtemp directory, so a run never touches (or is
 * disturbed by) a kernel the machine already runs, and stopped the way
 * systemd stops it (SIGTERM, then SIGKILL after a grace period). Its output
 * goes to a log file in that directory; when it fails to come up, the tail
 * of that log is the error message. A failed exec is reported through a
 * close-on-exec pipe, so "cloved not found" is told apart from "cloved
 * exited".
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS	 10000

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int kernel_proc_path(const struct kernel_proc *kp, const char *name, char *buf,
		     size_t len)
{
	int n = snprintf(buf, len, "%s/%s", kp->dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int rm_entry(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void remove_tree(const char *dir)
{
	if (dir[0])
		(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs in the forked child; never returns. */
static void exec_cloved(const struct kernel_proc *kp, const char *cloved,
			const char *state, int report_fd)
{
	int fd = open(kp->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 ||
	    dup2(fd, 2) < 0)
		goto fail;
	/* A killed clove-bench must not leave its kernel behind. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (kp->config[0])
		execl(cloved, cloved, "--socket", kp->socket, "--state-dir",
		      state, "--log-level", "warn", "--config", kp->config,
		      (char *)NULL);
	else
		execl(cloved, cloved, "--socket", kp->socket, "--state-dir",
		      state, "--log-level", "warn", (char *)NULL);
fail:;
	int e = errno;
	(void)!write(report_fd, &e, sizeof(e));
	_exit(127);
}

static int spawn(struct kernel_proc *kp, const char *cloved, char *err,
		 size_t errlen)
{
	char state[PATH_MAX];
	int pipefd[2];
	int r = kernel_proc_path(kp, "state", state, sizeof(state));
	if (r < 0)
		return r;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();

	pid_t pid = fork();
	if (pid < 0) {
		r = negative_errno();
		close(pipefd[0]);
		close(pipefd[1]);
		return r;
	}
	if (pid == 0) {
		close(pipefd[0]);
		exec_cloved(kp, cloved, state, pipefd[1]);
	}
	close(pipefd[1]);
	kp->pid = pid;

	int e = 0;
	ssize_t n = read(pipefd[0], &e, sizeof(e));
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(e)) {
		(void)waitpid(pid, NULL, 0);
		kp->pid = 0;
		snprintf(err, errlen, "cannot execute %s: %s", cloved,
			 strerror(e));
		return -e;
	}
	return 0;
}

static void log_tail(const struct kernel_proc *kp, char *buf, size_t len)
{
	buf[0] = '\0';
	_cleanup_close_ int fd = open(kp->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || len < 2)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)len - 1 ? size - (off_t)len + 1 : 0;
	ssize_t n = pread(fd, buf, len - 1, from);
	buf[n > 0 ? n : 0] = '\0';
}

static bool socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, path, len);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static int wait_ready(struct kernel_proc *kp, char *err, size_t errlen)
{
	char tail[400];

	for (unsigned waited = 0; waited < START_TIMEOUT_MS; waited += 10) {
		int status;
		if (waitpid(kp->pid, &status, WNOHANG) == kp->pid) {
			kp->pid = 0;
			log_tail(kp, tail, sizeof(tail));
			snprintf(err, errlen,
				 "cloved exited (status 0x%x) before "
				 "accepting connections; its log ends:\n%s",
				 (unsigned)status, tail);
			return -ECHILD;
		}
		if (socket_answers(kp->socket))
			return 0;
		sleep_ms(10);
	}
	log_tail(kp, tail, sizeof(tail));
	snprintf(err, errlen,
		 "cloved did not accept connections on %s within "
		 "%d ms; its log ends:\n%s",
		 kp->socket, START_TIMEOUT_MS, tail);
	return -ETIMEDOUT;
}

static int write_config(struct kernel_proc *kp, const char *text)
{
	if (kernel_proc_path(kp, "config.json", kp->config,
			     sizeof(kp->config)) < 0)
		return -ENAMETOOLONG;
	_cleanup_close_ int fd = open(kp->config, O_WRONLY | O_CREAT | O_TRUNC |
							  O_CLOEXEC,
				      0600);
	size_t len = strlen(text);
	if (fd < 0)
		return negative_errno();
	if (write(fd, text, len) != (ssize_t)len)
		return -EIO;
	return 0;
}

int kernel_proc_start(struct kernel_proc *kp, const char *cloved, char *err,
		      size_t errlen)
{
	return kernel_proc_start_config(kp, cloved, NULL, err, errlen);
}

int kernel_proc_start_config(struct kernel_proc *kp, const char *cloved,
			     const char *config_json, char *err,
			     size_t errlen)
{
	int r;

	*kp = (struct kernel_proc){ 0 };
	snprintf(kp->dir, sizeof(kp->dir), "/tmp/clove-bench.XXXXXX");
	if (!mkdtemp(kp->dir)) {
		r = negative_errno();
		snprintf(err, errlen, "mkdtemp: %s", strerror(-r));
		kp->dir[0] = '\0';
		return r;
	}
	if (kernel_proc_path(kp, "clove.sock", kp->socket, sizeof(kp->socket)) <
		    0 ||
	    kernel_proc_path(kp, "cloved.log", kp->log, sizeof(kp->log)) < 0) {
		snprintf(err, errlen, "temporary path too long");
		r = -ENAMETOOLONG;
		goto fail;
	}
	if (config_json && (r = write_config(kp, config_json)) < 0) {
		snprintf(err, errlen, "cannot write the config file: %s",
			 strerror(-r));
		goto fail;
	}
	r = spawn(kp, cloved, err, errlen);
	if (r < 0)
		goto fail;
	r = wait_ready(kp, err, errlen);
	if (r < 0)
		goto fail;
	return 0;
fail:
	(void)kernel_proc_stop(kp);
	return r;
}

int kernel_proc_stop(struct kernel_proc *kp)
{
	int r = 0;

	if (kp->pid > 0) {
		int status = 0;
		pid_t w = 0;
		(void)kill(kp->pid, SIGTERM);
		for (unsigned waited = 0; waited < STOP_TIMEOUT_MS;
		     waited += 10) {
			w = waitpid(kp->pid, &status, WNOHANG);
			if (w != 0)
				break;
			sleep_ms(10);
		}
		if (w == 0) {
			(void)kill(kp->pid, SIGKILL);
			w = waitpid(kp->pid, &status, 0);
			r = -ETIMEDOUT;
		}
		if (w < 0)
			r = negative_errno();
		else if (r == 0)
			r = WIFEXITED(status) ? WEXITSTATUS(status)
					      : 128 + WTERMSIG(status);
		kp->pid = 0;
	}
	remove_tree(kp->dir);
	kp->dir[0] = '\0';
	return r;
}
