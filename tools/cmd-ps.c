/* SPDX-License-Identifier: MIT */
/*
 * `clove ps`: the LIST reply as a table. LIST answers a JSON array (as the
 * original did); fields a kernel leaves out print as "-" rather than
 * failing, so an older or newer kernel still lists. REASON is LIST's
 * exit_reason ("oom", "pids", ...).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "output.h"

enum { PS_COLS = 10 };

/* Writes an integer field into buf, or leaves NULL ("-") when absent. */
static const char *ps_int(json_t *agent, const char *key, char *buf,
			  size_t size)
{
	json_int_t v;

	if (!cli_json_int(agent, key, &v))
		return NULL;
	snprintf(buf, size, "%" JSON_INTEGER_FORMAT, v);
	return buf;
}

static const char *ps_uptime(json_t *agent, char *buf, size_t size)
{
	const char *state = cli_json_string(agent, "state");
	json_int_t ms;

	/* Only a live agent has an uptime; ended ones keep a stale figure. */
	if (!json_is_true(json_object_get(agent, "running")) &&
	    !(state && strcmp(state, "paused") == 0))
		return NULL;
	if (!cli_json_int(agent, "uptime_ms", &ms) || ms < 0)
		return NULL;
	output_format_duration((uint64_t)ms, buf, size);
	return buf;
}

static const char *ps_exit(json_t *agent, char *buf, size_t size)
{
	json_int_t v;

	if (cli_json_int(agent, "signal", &v) && v > 0) {
		output_format_signal((int)v, buf, size);
		return buf;
	}
	return ps_int(agent, "exit_code", buf, size);
}

/* LLM usage (LIST's "llm"): calls, with those queued or running. */
static const char *ps_llm_calls(json_t *agent, char *buf, size_t size)
{
	json_t *llm = json_object_get(agent, "llm");
	json_int_t calls, queued = 0, running = 0;

	if (!cli_json_int(llm, "calls", &calls))
		return NULL;
	(void)cli_json_int(llm, "queued", &queued);
	(void)cli_json_int(llm, "in_flight", &running);
	if (queued + running > 0)
		snprintf(buf, size,
			 "%" JSON_INTEGER_FORMAT "+%" JSON_INTEGER_FORMAT, calls,
			 queued + running);
	else
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, calls);
	return buf;
}

static int ps_add(struct output_table *t, json_t *agent)
{
	char id[24], pid[24], restarts[24], uptime[32], exit[32];
	char calls[48], tokens[24];
	json_int_t p;

	const char *pid_cell = NULL;
	if (cli_json_int(agent, "pid", &p) && p > 0)
		pid_cell = ps_int(agent, "pid", pid, sizeof(pid));
	const char *cells[PS_COLS] = {
		ps_int(agent, "id", id, sizeof(id)),
		cli_json_string(agent, "name"),
		pid_cell,
		cli_json_string(agent, "state"),
		ps_int(agent, "restarts", restarts, sizeof(restarts)),
		ps_uptime(agent, uptime, sizeof(uptime)),
		ps_llm_calls(agent, calls, sizeof(calls)),
		ps_int(json_object_get(agent, "llm"), "total_tokens", tokens,
		       sizeof(tokens)),
		ps_exit(agent, exit, sizeof(exit)),
		cli_json_string(agent, "exit_reason"),
	};
	return output_table_add_row(t, cells);
}

static int ps_print(json_t *reply)
{
	static const char *const headers[PS_COLS] = {
		"ID",	  "NAME", "PID",    "STATE", "RESTARTS",
		"UPTIME", "LLM",  "TOKENS", "EXIT",  "REASON",
	};
	_cleanup_table_ struct output_table *t = NULL;
	size_t i;
	json_t *agent;

	if (!json_is_array(reply)) {
		fprintf(stderr, "clove: LIST did not answer a list\n");
		return CLI_EXIT_KERNEL;
	}
	if (output_table_new(headers, PS_COLS, &t) < 0)
		goto oom;
	json_array_foreach(reply, i, agent)
		if (json_is_object(agent) && ps_add(t, agent) < 0)
			goto oom;
	output_table_print(t, stdout);
	return CLI_EXIT_OK;
oom:
	fprintf(stderr, "clove: out of memory\n");
	return CLI_EXIT_KERNEL;
}

static int ps_main(struct cli *cli, const struct cli_command *cmd, int argc,
		   char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS, {} };
	_cleanup_json_ json_t *reply = NULL;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		r = cli_common_option(cli, cmd, opt, optarg);
		if (r != CLI_CONTINUE)
			return r;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
				       argv[optind]);

	r = cli_request(cli, CLOVE_OP_LIST, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (cli->json) {
		output_json(reply, stdout);
		return CLI_EXIT_OK;
	}
	return ps_print(reply);
}

const struct cli_command cmd_ps = {
	.name = "ps",
	.prog = "clove ps",
	.summary = "List agents",
	.usage = "Usage: clove ps [OPTIONS]\n"
		 "\n"
		 "List the live agents and the most recently ended ones\n"
		 "(LIST): ID NAME PID STATE RESTARTS UPTIME LLM TOKENS EXIT\n"
		 "REASON. LLM counts the agent's THINK calls (+ those queued\n"
		 "or running), TOKENS the tokens they and LLM_REPORT used.\n"
		 "REASON says why the last process ended: exited, signal,\n"
		 "killed (KILL), oom (over its memory limit), pids (a fork\n"
		 "refused at its process limit).\n",
	.run = ps_main,
};
