/* SPDX-License-Identifier: MIT */
/*
 * `clove logs NAME|ID [-f] [-n LINES]`: prints an agent's log file. LIST
 * says where the log is; the file is read directly (the CLI runs on the
 * kernel's host), which keeps big logs out of the protocol. -f follows it
 * like tail -F: polls every 200 ms, survives truncation and re-creation,
 * and stops on SIGINT or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "macro.h"
#include "tail.h"

#define LOGS_POLL_NS (200 * 1000 * 1000L)

static volatile sig_atomic_t logs_stop;

static void logs_on_signal(int sig)
{
	logs_stop = 1;
}

/* The agent's entry in the LIST reply: a live one wins over ended ones of
 * the same name, else the last listed. */
static json_t *logs_find(json_t *list, const struct args_selector *sel)
{
	json_t *found = NULL, *agent;
	size_t i;

	json_array_foreach(list, i, agent) {
		json_int_t id;
		const char *name = cli_json_string(agent, "name");
		bool match = sel->by_id ? cli_json_int(agent, "id", &id) &&
						  id == (json_int_t)sel->id
					: name && strcmp(name, sel->name) == 0;
		if (!match)
			continue;
		if (json_is_true(json_object_get(agent, "running")))
			return agent;
		found = agent;
	}
	return found;
}

/* Asks the kernel where the agent's log is; *ret_path is malloc'd. */
static int logs_path(struct cli *cli, const struct args_selector *sel,
		     const char *arg, char **ret_path)
{
	_cleanup_json_ json_t *list = NULL;

	int r = cli_request(cli, CLOVE_OP_LIST, NULL, &list);
	if (r != CLI_EXIT_OK)
		return r;
	json_t *agent = json_is_array(list) ? logs_find(list, sel) : NULL;
	if (!agent) {
		fprintf(stderr, "clove: no agent '%s'\n", arg);
		return CLI_EXIT_NOT_FOUND;
	}
	const char *path = cli_json_string(agent, "log_path");
	if (!path || !*path) {
		fprintf(stderr, "clove: the kernel gave no log path for '%s'\n",
			arg);
		return CLI_EXIT_KERNEL;
	}
	*ret_path = strdup(path);
	return *ret_path ? CLI_EXIT_OK : CLI_EXIT_KERNEL;
}

static int logs_copy(const char *path, int fd, uint64_t *offset)
{
	int r = tail_copy(fd, offset, stdout);
	if (r < 0) {
		fprintf(stderr, "clove: %s: %s\n", path, strerror(-r));
		return CLI_EXIT_KERNEL;
	}
	return CLI_EXIT_OK;
}

/* One round of following: new bytes, truncation, replacement. */
static int logs_poll(const char *path, int *fd, uint64_t *offset)
{
	struct stat st, now;

	if (*fd < 0) {
		*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (*fd < 0)
			return CLI_EXIT_OK; /* not (back) yet */
		*offset = 0;
	}
	if (fstat(*fd, &st) < 0) {
		fprintf(stderr, "clove: %s: %s\n", path, strerror(errno));
		return CLI_EXIT_KERNEL;
	}
	if ((uint64_t)st.st_size < *offset) {
		fprintf(stderr, "clove: %s: file truncated\n", path);
		*offset = 0;
	}
	int r = logs_copy(path, *fd, offset);
	if (r != CLI_EXIT_OK)
		return r;
	if (stat(path, &now) == 0 && now.st_ino == st.st_ino &&
	    now.st_dev == st.st_dev)
		return CLI_EXIT_OK;
	/* Replaced or removed: print what reached the old file after the
	 * copy above, then move on to whatever appears under the path. */
	r = logs_copy(path, *fd, offset);
	closep(fd);
	*fd = -EBADF;
	return r;
}

static int logs_follow(const char *path, int fd, uint64_t offset)
{
	_cleanup_close_ int cur = fd;
	struct sigaction sa = { .sa_handler = logs_on_signal };
	const struct timespec tick = { .tv_nsec = LOGS_POLL_NS };

	/* No SA_RESTART: the signal must cut the sleep short. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!logs_stop) {
		nanosleep(&tick, NULL);
		if (logs_stop)
			break;
		int r = logs_poll(path, &cur, &offset);
		if (r != CLI_EXIT_OK)
			return r;
	}
	return CLI_EXIT_OK;
}

static int logs_print(const char *path, bool follow, uint64_t lines)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	uint64_t offset = 0;

	if (fd < 0 && errno == ENOENT && follow)
		return logs_follow(path, -EBADF, 0);
	if (fd < 0 && errno == ENOENT) {
		fprintf(stderr, "clove: no log yet (%s)\n", path);
		return CLI_EXIT_OK;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "clove: %s: %s\n", path, strerror(errno));
		return CLI_EXIT_KERNEL;
	}
	int r = tail_find_start(fd, (uint64_t)st.st_size, lines, &offset);
	if (r < 0) {
		fprintf(stderr, "clove: %s: %s\n", path, strerror(-r));
		return CLI_EXIT_KERNEL;
	}
	r = logs_copy(path, fd, &offset);
	if (r != CLI_EXIT_OK || !follow)
		return r;
	return logs_follow(path, take_fd(fd), offset);
}

static int logs_main(struct cli *cli, const struct cli_command *cmd, int argc,
		     char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{},
	};
	_cleanup_free_ char *path = NULL;
	struct args_selector sel;
	uint64_t lines = UINT64_MAX;
	bool follow = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "hfn:", options, NULL)) >= 0) {
		if (opt == 'f') {
			follow = true;
		} else if (opt == 'n') {
			if (args_parse_uint(optarg, UINT64_MAX, &lines) < 0)
				return cli_usage_error(
					cmd, "invalid --lines '%s'", optarg);
		} else if ((r = cli_common_option(cli, cmd, opt, optarg)) !=
			   CLI_CONTINUE) {
			return r;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "missing NAME or ID");
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
				       argv[optind + 1]);
	if (args_parse_selector(argv[optind], &sel) < 0)
		return cli_usage_error(cmd, "invalid agent '%s'", argv[optind]);

	r = logs_path(cli, &sel, argv[optind], &path);
	if (r != CLI_EXIT_OK)
		return r;
	/* Following may take hours; do not hold a kernel connection. */
	clove_close(cli->client);
	cli->client = NULL;
	return logs_print(path, follow, lines);
}

const struct cli_command cmd_logs = {
	.name = "logs",
	.prog = "clove logs",
	.summary = "Print an agent's log",
	.usage = "Usage: clove logs NAME|ID [OPTIONS]\n"
		 "\n"
		 "Print an agent's log (its stdout and stderr). The file\n"
		 "is read directly, so this works on the kernel's host\n"
		 "only. An all-digit argument is an ID. --json has no\n"
		 "effect.\n"
		 "\n"
		 "Options:\n"
		 "  -n, --lines N         print only the last N lines\n"
		 "  -f, --follow          keep printing what is appended,\n"
		 "                        until interrupted (Ctrl-C)\n",
	.run = logs_main,
};
