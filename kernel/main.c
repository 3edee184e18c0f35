/* SPDX-License-Identifier: MIT */
/*
 * cloved: parse settings, set up the loop, the agent table and the socket,
 * tell systemd we are ready, run until SIGTERM/SIGINT, then stop every agent
 * (grace, then kill), remove the socket and exit 0.
 */
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent.h"
#include "clove-config.h"
#include "conn.h"
#include "exec.h"
#include "http.h"
#include "hub.h"
#include "kernel.h"
#include "llm.h"
#include "log.h"
#include "loop.h"
#include "sandbox.h"
#include "perm-policy.h"
#include "perm.h"
#include "server.h"
#include "shm-attach.h"

struct signals {
	struct kernel *k;
	int fd;
	struct loop_op op;
	struct signalfd_siginfo info;
};

uint32_t kernel_next_id(struct kernel *k)
{
	return ++k->next_id;
}

/* Replies made in the last moments (KILLs answered as their agents died)
 * still go out: poll for up to a second until every connection is sent. */
#define DRAIN_STEP_MS 10
#define DRAIN_STEPS 100

static void drain_tick(struct loop_timer *t, int res)
{
	struct kernel *k = container_of(t, struct kernel, drain_timer);
	if (conn_all_sent(k) || ++k->drain_ticks >= DRAIN_STEPS ||
	    loop_timer_arm(k->loop, t, DRAIN_STEP_MS) < 0)
		loop_quit(k->loop);
}

static void shutdown_done(struct kernel *k)
{
	log_info("all agents stopped; exiting");
	k->drain_timer.fn = drain_tick;
	drain_tick(&k->drain_timer, 0);
}

void kernel_shutdown(struct kernel *k)
{
	if (k->shutting_down)
		return;
	k->shutting_down = true;
	log_info("shutting down: stopping %u agent(s)",
		 agents_count_running(k->agents));
	exec_kill_all(k);
	http_abort_all(k);
	llm_shutdown(k);
	hub_shutdown(k);
	agents_stop_all(k->agents, k->cfg.kill_grace_ms, shutdown_done);
}

static int arm_signals(struct loop *l, struct signals *s);

static void on_signal(struct loop_op *op, int res, uint32_t flags)
{
	struct signals *s = container_of(op, struct signals, op);

	if (res == (int)sizeof(s->info)) {
		int sig = (int)s->info.ssi_signo;
		if (sig == SIGHUP)
			log_info("SIGHUP: nothing to reload yet");
		else {
			log_info("received %s", strsignal(sig));
			kernel_shutdown(s->k);
		}
	} else if (res < 0 && res != -EINTR && res != -EAGAIN) {
		log_error("signalfd read: %s", strerror(-res));
		return;
	}
	if (arm_signals(s->k->loop, s) < 0)
		log_error("cannot re-arm the signal read");
}

static int arm_signals(struct loop *l, struct signals *s)
{
	return loop_read(l, &s->op, s->fd, &s->info, sizeof(s->info), -1);
}

static int setup_signals(struct kernel *k, struct signals *s)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return negative_errno();
	/* A peer that vanishes must not kill the kernel. */
	signal(SIGPIPE, SIG_IGN);

	s->k = k;
	s->op.fn = on_signal;
	s->fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (s->fd < 0)
		return negative_errno();
	return arm_signals(k->loop, s);
}

/* systemd's readiness protocol, without linking libsystemd. */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return;

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@')) {
		log_warn("NOTIFY_SOCKET is not a usable path: %s", path);
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	static const char msg[] = "READY=1\nSTATUS=accepting connections";
	if (sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warn("cannot notify systemd at %s: %m", path);
	close(fd);
	/* Agents and commands inherit the kernel's environment; they must not
	 * be able to speak to systemd as the service. */
	unsetenv("NOTIFY_SOCKET");
}

/* Thousands of connections need thousands of fds. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int make_state_dir(const char *dir)
{
	char sub[PATH_MAX + 16];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	snprintf(sub, sizeof(sub), "%s/logs", dir);
	if (mkdir(sub, 0750) < 0 && errno != EEXIST)
		return negative_errno();
	snprintf(sub, sizeof(sub), "%s/agents", dir);
	if (mkdir(sub, 0750) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

/* Ids continue past the work directories of earlier runs, so a new agent
 * never finds an old agent's files in its directory. */
static void resume_ids(struct kernel *k)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/agents", k->cfg.state_dir);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		errno = 0;
		unsigned long id = strtoul(e->d_name, &end, 10);
		if (!errno && *end == '\0' && end != e->d_name && id < UINT32_MAX &&
		    id > k->next_id)
			k->next_id = (uint32_t)id;
	}
	closedir(d);
}

static int run(struct kernel *k)
{
	struct signals sig = { .fd = -EBADF };
	char msg[512] = "";
	int r;

	r = loop_new(&k->loop);
	if (r < 0) {
		log_error("cannot set up io_uring: %s: %s", strerror(-r),
			  loop_explain(r));
		return r;
	}
	r = make_state_dir(k->cfg.state_dir);
	if (r < 0) {
		log_error("cannot create state directory %s: %s", k->cfg.state_dir,
			  strerror(-r));
		goto out;
	}
	r = sandbox_context_new(k->cfg.state_dir, &k->sandbox);
	if (r < 0) {
		log_error("cannot prepare agent sandboxes: %s", strerror(-r));
		goto out;
	}
	if (sandbox_context_error(k->sandbox))
		log_warn("sandboxed agents cannot be started: %s",
			 sandbox_context_error(k->sandbox));
	else if (!sandbox_landlock_abi(k->sandbox))
		log_warn("agent sandboxes go without Landlock");
	resume_ids(k);
	r = shm_hub_new(k, &k->shm_hub);
	if (r < 0) {
		log_error("cannot set up the shared-memory fast path: %s",
			  strerror(-r));
		goto out;
	}
	r = hub_new(k, msg, sizeof(msg));
	if (r < 0) {
		log_error("cannot open the state database: %s", msg);
		goto out;
	}
	r = llm_new(k, &k->llm);
	if (r < 0) {
		log_error("cannot set up LLM access: %s", strerror(-r));
		goto out;
	}
	r = agents_new(k, &k->agents);
	if (r < 0) {
		log_error("cannot set up the agent table: %s", strerror(-r));
		goto out;
	}
	/* Before the socket: leftovers of a crashed kernel go first. */
	(void)agents_cgroup_init(k);
	r = setup_signals(k, &sig);
	if (r < 0) {
		log_error("cannot set up signal handling: %s", strerror(-r));
		goto out;
	}
	r = server_new(k, &k->server, msg, sizeof(msg));
	if (r < 0) {
		log_error("%s", msg);
		goto out;
	}

	k->started_ms = loop_now_ms();
	log_info("cloved %s listening on %s (state in %s)", CLOVE_VERSION,
		 k->cfg.socket_path, k->cfg.state_dir);
	notify_ready();

	r = loop_run(k->loop);
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
out:
	/* Order matters: nothing may complete on the ring after the objects
	 * it names are freed, so the ring goes first. */
	agents_cgroup_detach(k);
	loop_free(k->loop);
	k->loop = NULL;
	server_free(k->server);
	exec_free_all(k);
	http_free_all(k);
	agents_free(k->agents);
	llm_free(k->llm);
	k->llm = NULL;
	agents_cgroup_done(k);
	shm_hub_free(k->shm_hub);
	conn_free_all(k);
	sandbox_context_free(k->sandbox);
	hub_free(k);
	if (sig.fd >= 0)
		close(sig.fd);
	return r;
}

int main(int argc, char **argv)
{
	struct kernel k = { 0 };
	char err[512];

	/* Character classes only, and only for libcurl's IDN conversion of
	 * HTTP host names, which reads them in the locale's encoding. Messages
	 * and numbers stay in the C locale. */
	(void)setlocale(LC_CTYPE, "C.UTF-8");
	if (config_parse(&k.cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "cloved: %s\n", err);
		return 2;
	}
	if (k.cfg.show_help) {
		fputs(config_usage(), stdout);
		return 0;
	}
	if (k.cfg.show_version) {
		printf("cloved %s\n", CLOVE_VERSION);
		return 0;
	}
	log_set_level(k.cfg.log_level);
	raise_nofile();

	struct perm_why why;
	if (perm_operator_policy_new(k.cfg.operator_permissions,
				     &k.operator_policy, &why) < 0) {
		fprintf(stderr, "cloved: --operator-permissions: %s\n", why.msg);
		return 2;
	}
	int r = run(&k);
	perm_policy_free(k.operator_policy);
	return r < 0 ? 1 : 0;
}
