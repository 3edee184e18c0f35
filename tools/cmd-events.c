/* SPDX-License-Identifier: MIT */
/*
 * `clove events [-f] [TYPE...]`: subscribes this connection to event types
 * (all by default) and prints the events as they come: one line each, or
 * the JSON object per line with --json. Without -f it waits up to --wait
 * seconds for events and exits; with -f it follows them until interrupted.
 * The kernel sends only events that happen after the subscription.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "output.h"

#define EVENTS_POLL_WAIT_S 1
#define EVENTS_MAX_WAIT_MS (3600ull * 1000)

static volatile sig_atomic_t events_stop;

static void events_on_signal(int sig)
{
	events_stop = 1;
}

/* "2025-01-31 12:00:00.123" in local time. */
static void format_time(double t, char *buf, size_t size)
{
	time_t secs = (time_t)t;
	struct tm tm;
	char day[32];

	if (!localtime_r(&secs, &tm) ||
	    strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "%.3f", t);
		return;
	}
	snprintf(buf, size, "%s.%03d", day, (int)((t - (double)secs) * 1000));
}

static void print_event(json_t *ev, bool as_json)
{
	char when[48], *data;
	json_int_t src = 0;

	if (as_json) {
		data = json_dumps(ev, JSON_COMPACT);
		if (data)
			puts(data);
		free(data);
		return;
	}
	format_time(json_number_value(json_object_get(ev, "timestamp")), when,
		    sizeof(when));
	cli_json_int(ev, "source_agent_id", &src);
	data = json_dumps(json_object_get(ev, "data"),
			  JSON_COMPACT | JSON_ENCODE_ANY);
	printf("%s  %-18s source=%" JSON_INTEGER_FORMAT "  %s\n", when,
	       cli_json_string(ev, "type") ? cli_json_string(ev, "type") : "?",
	       src, data ? data : "null");
	free(data);
}

static int events_subscribe(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = json_object(), *reply = NULL;
	json_t *types = json_array();

	for (int i = optind; i < argc; i++)
		json_array_append_new(types, json_string(argv[i]));
	if (json_array_size(types) == 0)
		json_array_append_new(types, json_string("*"));
	json_object_set_new(req, "event_types", types);
	return cli_request(cli, CLOVE_OP_SUBSCRIBE, req, &reply);
}

/* One POLL_EVENTS waiting up to wait_ms; prints what came. */
static int events_poll(struct cli *cli, uint64_t wait_ms)
{
	_cleanup_json_ json_t *req =
		json_pack("{s:i, s:f}", "max", 1000, "wait", wait_ms / 1000.0);
	_cleanup_json_ json_t *reply = NULL;
	json_int_t dropped = 0;
	json_t *ev;
	size_t i;
	int r;

	r = cli_request(cli, CLOVE_OP_POLL_EVENTS, req, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (cli_json_int(reply, "dropped", &dropped) && dropped > 0)
		fprintf(stderr,
			"clove: %" JSON_INTEGER_FORMAT
			" event(s) dropped (queue full)\n",
			dropped);
	json_array_foreach(json_object_get(reply, "events"), i, ev)
		print_event(ev, cli->json);
	fflush(stdout);
	return CLI_EXIT_OK;
}

static int events_main(struct cli *cli, const struct cli_command *cmd, int argc,
		       char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "follow", no_argument, NULL, 'f' },
		{ "wait", required_argument, NULL, 'w' },
		{},
	};
	struct sigaction sa = { .sa_handler = events_on_signal };
	uint64_t wait_ms = 1000;
	bool follow = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "hfw:", options, NULL)) >= 0) {
		if (opt == 'f') {
			follow = true;
		} else if (opt == 'w') {
			if (args_parse_duration(optarg, EVENTS_MAX_WAIT_MS,
						&wait_ms) < 0)
				return cli_usage_error(
					cmd, "invalid --wait '%s'", optarg);
		} else if ((r = cli_common_option(cli, cmd, opt, optarg)) !=
			   CLI_CONTINUE) {
			return r;
		}
	}
	r = events_subscribe(cli, argc, argv);
	if (r != CLI_EXIT_OK || !follow)
		return r != CLI_EXIT_OK ? r : events_poll(cli, wait_ms);
	/* No SA_RESTART: the signal cuts a waiting poll short. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!events_stop) {
		r = events_poll(cli, EVENTS_POLL_WAIT_S * 1000);
		if (r != CLI_EXIT_OK)
			return events_stop ? CLI_EXIT_OK : r;
	}
	return CLI_EXIT_OK;
}

const struct cli_command cmd_events = {
	.name = "events",
	.prog = "clove events",
	.summary = "Print kernel and agent events",
	.usage = "Usage: clove events [OPTIONS] [TYPE...]\n"
		 "\n"
		 "Subscribe to event TYPEs (default: all, '*') and print\n"
		 "the events that happen from now on: time, type, source\n"
		 "agent and data, one per line (--json: one JSON object\n"
		 "per line). Types: agent_spawned, agent_exited,\n"
		 "agent_restarting, agent_failed, agent_paused,\n"
		 "agent_resumed, message_received, syscall_blocked,\n"
		 "resource_warning, 'custom' (all EMITted ones) or a\n"
		 "custom name.\n"
		 "\n"
		 "Options:\n"
		 "  -f, --follow          keep printing events until\n"
		 "                        interrupted (Ctrl-C)\n"
		 "  -w, --wait DURATION   without -f: how long to wait for\n"
		 "                        events (default 1s)\n",
	.run = events_main,
};
