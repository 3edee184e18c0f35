/* SPDX-License-Identifier: MIT */
/*
 * `clove audit [OPTIONS]`: the kernel's audit log (GET_AUDIT_LOG), one
 * entry per line, oldest first — or one JSON object per line with --json.
 * Filters are the syscall's; -f keeps asking for entries after the last
 * one shown, once a second, until interrupted.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"

#define AUDIT_FOLLOW_NS	 (1000 * 1000 * 1000L)
#define AUDIT_MAX_LIMIT	 10000
#define AUDIT_MAX_DETAIL 160

static volatile sig_atomic_t audit_stop;

static void audit_on_signal(int sig)
{
	audit_stop = 1;
}

static void print_entry(json_t *e, bool as_json)
{
	char *details, agent[96] = "-";
	json_int_t id = 0, agent_id = 0, caller = 0;
	const char *name = cli_json_string(e, "agent_name");

	if (as_json) {
		details = json_dumps(e, JSON_COMPACT);
		if (details)
			puts(details);
		free(details);
		return;
	}
	cli_json_int(e, "id", &id);
	cli_json_int(e, "caller_id", &caller);
	if (cli_json_int(e, "agent_id", &agent_id) && agent_id > 0)
		snprintf(agent, sizeof(agent), "%" JSON_INTEGER_FORMAT "%s%s%s",
			 agent_id, name ? "(" : "", name ? name : "",
			 name ? ")" : "");
	details = json_dumps(json_object_get(e, "details"), JSON_COMPACT);
	printf("%-6" JSON_INTEGER_FORMAT
	       " %s  %-15s %-20s agent=%s by=%s:%" JSON_INTEGER_FORMAT
	       " %s %.*s\n",
	       id, cli_json_string(e, "timestamp") ?: "?",
	       cli_json_string(e, "category") ?: "?",
	       cli_json_string(e, "event_type") ?: "?", agent,
	       cli_json_string(e, "caller_role") ?: "?", caller,
	       json_is_false(json_object_get(e, "success")) ? "FAILED" : "ok",
	       AUDIT_MAX_DETAIL, details ? details : "");
	free(details);
}

/* One GET_AUDIT_LOG; prints the entries, moves *since_id past them. */
static int audit_fetch(struct cli *cli, json_t *filters, json_int_t *since_id)
{
	_cleanup_json_ json_t *req = json_deep_copy(filters), *reply = NULL;
	json_t *e;
	size_t i;
	int r;

	if (*since_id > 0)
		json_object_set_new(req, "since_id", json_integer(*since_id));
	r = cli_request(cli, CLOVE_OP_GET_AUDIT_LOG, req, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	json_array_foreach(json_object_get(reply, "entries"), i, e)
		print_entry(e, cli->json);
	cli_json_int(reply, "last_id", since_id);
	fflush(stdout);
	return CLI_EXIT_OK;
}

static int audit_option(const struct cli_command *cmd, int opt, const char *arg,
			json_t *filters)
{
	uint64_t n;

	switch (opt) {
	case 'c':
		json_object_set_new(filters, "category", json_string(arg));
		return CLI_CONTINUE;
	case 'e':
		json_object_set_new(filters, "event_type", json_string(arg));
		return CLI_CONTINUE;
	case 'a':
	case 's':
	case 'n':
		if (args_parse_uint(arg,
				    opt == 'n' ? AUDIT_MAX_LIMIT : UINT32_MAX,
				    &n) < 0 ||
		    (opt == 'n' && n == 0))
			return cli_usage_error(cmd, "invalid number '%s'", arg);
		json_object_set_new(filters,
				    opt == 'a'	 ? "agent_id"
				    : opt == 's' ? "since_id"
						 : "limit",
				    json_integer((json_int_t)n));
		return CLI_CONTINUE;
	}
	return CLI_EXIT_USAGE;
}

static int audit_main(struct cli *cli, const struct cli_command *cmd, int argc,
		      char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "category", required_argument, NULL, 'c' },
		{ "event", required_argument, NULL, 'e' },
		{ "agent", required_argument, NULL, 'a' },
		{ "since-id", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{},
	};
	_cleanup_json_ json_t *filters = json_object();
	struct sigaction sa = { .sa_handler = audit_on_signal };
	const struct timespec tick = { .tv_nsec = AUDIT_FOLLOW_NS - 1 };
	json_int_t since_id = 0;
	bool follow = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "hc:e:a:s:n:f", options, NULL)) >=
	       0) {
		if (opt == 'f')
			follow = true;
		else if (strchr("ceasn", opt))
			r = audit_option(cmd, opt, optarg, filters);
		else
			r = cli_common_option(cli, cmd, opt, optarg);
		if (opt != 'f' && r != CLI_CONTINUE)
			return r;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
				       argv[optind]);
	r = audit_fetch(cli, filters, &since_id);
	if (r != CLI_EXIT_OK || !follow)
		return r;
	json_object_del(filters, "since_id");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!audit_stop) {
		nanosleep(&tick, NULL);
		if (audit_stop)
			break;
		r = audit_fetch(cli, filters, &since_id);
		if (r != CLI_EXIT_OK)
			return audit_stop ? CLI_EXIT_OK : r;
	}
	return CLI_EXIT_OK;
}

const struct cli_command cmd_audit = {
	.name = "audit",
	.prog = "clove audit",
	.summary = "Show the kernel's audit log",
	.usage = "Usage: clove audit [OPTIONS]\n"
		 "\n"
		 "Print audit log entries, oldest first: id, time (UTC),\n"
		 "category, event, the agent concerned, who acted, whether\n"
		 "it succeeded and the details (--json: one JSON object per\n"
		 "line). Without --since-id, the latest --limit entries.\n"
		 "\n"
		 "Options:\n"
		 "  -c, --category NAME   SECURITY, AGENT_LIFECYCLE, IPC,\n"
		 "                        STATE_STORE, RESOURCE, SYSCALL,\n"
		 "                        NETWORK, WORLD or OPERATOR\n"
		 "  -e, --event TYPE      only this event type (e.g. KILL)\n"
		 "  -a, --agent ID        only entries about agent ID\n"
		 "  -s, --since-id N      only entries after id N\n"
		 "  -n, --limit N         at most N entries (default 100)\n"
		 "  -f, --follow          keep printing new entries until\n"
		 "                        interrupted (Ctrl-C)\n",
	.run = audit_main,
};
