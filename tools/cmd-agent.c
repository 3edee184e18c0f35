/* SPDX-License-Identifier: MIT */
/*
 * `clove kill|pause|resume NAME|ID`: the commands that act on one agent.
 * They share a parser and a printer; only the opcode, the verb and kill's
 * --grace differ.
 */
#include <stdio.h>

#include "args.h"
#include "cli.h"
#include "output.h"

/* KILL's grace is seconds; a day is far beyond any sensible one. */
#define AGENT_MAX_GRACE_MS (24ull * 3600 * 1000)

struct agent_verb {
	uint8_t opcode;
	const char *done; /* "killed" */
	bool grace;	  /* accepts --grace */
};

static const struct agent_verb verb_kill = { CLOVE_OP_KILL, "killed", true };
static const struct agent_verb verb_pause = { CLOVE_OP_PAUSE, "paused", false };
static const struct agent_verb verb_resume = { CLOVE_OP_RESUME, "resumed",
					       false };

static json_t *grace_json(uint64_t ms)
{
	/* Whole seconds go as an integer: what the original clients sent. */
	if (ms % 1000 == 0)
		return json_integer((json_int_t)(ms / 1000));
	return json_real((double)ms / 1000.0);
}

static void agent_print(const struct agent_verb *verb,
			const struct args_selector *sel, json_t *reply)
{
	json_int_t id = sel->id, sig;
	char signame[32];

	cli_json_int(reply, "agent_id", &id);
	if (sel->by_id)
		printf("agent %" JSON_INTEGER_FORMAT ": %s", id, verb->done);
	else
		printf("%s (id %" JSON_INTEGER_FORMAT "): %s", sel->name, id,
		       verb->done);
	if (cli_json_int(reply, "signal", &sig) && sig > 0) {
		output_format_signal((int)sig, signame, sizeof(signame));
		printf(" by %s", signame);
	}
	putchar('\n');
}

static int agent_parse(struct cli *cli, const struct cli_command *cmd,
		       const struct agent_verb *verb, int argc, char **argv,
		       json_t *request)
{
	static const struct option kill_options[] = {
		CLI_COMMON_OPTIONS,
		{ "grace", required_argument, NULL, 'g' },
		{},
	};
	static const struct option plain_options[] = { CLI_COMMON_OPTIONS, {} };
	int opt, r;

	while ((opt = getopt_long(argc, argv, verb->grace ? "hg:" : "h",
				  verb->grace ? kill_options : plain_options,
				  NULL)) >= 0) {
		uint64_t ms;
		if (opt != 'g') {
			r = cli_common_option(cli, cmd, opt, optarg);
			if (r != CLI_CONTINUE)
				return r;
			continue;
		}
		if (args_parse_duration(optarg, AGENT_MAX_GRACE_MS, &ms) < 0)
			return cli_usage_error(cmd, "invalid --grace '%s'",
					       optarg);
		if (json_object_set_new(request, "grace", grace_json(ms)) < 0)
			return CLI_EXIT_KERNEL;
	}
	return CLI_CONTINUE;
}

static int agent_main(struct cli *cli, const struct cli_command *cmd,
		      const struct agent_verb *verb, int argc, char **argv)
{
	_cleanup_json_ json_t *request = json_object();
	_cleanup_json_ json_t *reply = NULL;
	struct args_selector sel;

	if (!request)
		return CLI_EXIT_KERNEL;
	int r = agent_parse(cli, cmd, verb, argc, argv, request);
	if (r != CLI_CONTINUE)
		return r;
	if (optind >= argc)
		return cli_usage_error(cmd, "missing NAME or ID");
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
				       argv[optind + 1]);
	r = args_parse_selector(argv[optind], &sel);
	if (r < 0)
		return cli_usage_error(cmd, "invalid agent '%s'", argv[optind]);
	if (args_selector_to_json(&sel, request) < 0)
		return CLI_EXIT_KERNEL;

	r = cli_request(cli, verb->opcode, request, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (cli->json)
		output_json(reply, stdout);
	else
		agent_print(verb, &sel, reply);
	return CLI_EXIT_OK;
}

static int kill_main(struct cli *cli, const struct cli_command *cmd, int argc,
		     char **argv)
{
	return agent_main(cli, cmd, &verb_kill, argc, argv);
}

static int pause_main(struct cli *cli, const struct cli_command *cmd, int argc,
		      char **argv)
{
	return agent_main(cli, cmd, &verb_pause, argc, argv);
}

static int resume_main(struct cli *cli, const struct cli_command *cmd, int argc,
		       char **argv)
{
	return agent_main(cli, cmd, &verb_resume, argc, argv);
}

const struct cli_command cmd_kill = {
	.name = "kill",
	.prog = "clove kill",
	.summary = "Stop an agent",
	.usage = "Usage: clove kill NAME|ID [OPTIONS]\n"
		 "\n"
		 "Stop an agent (KILL): SIGTERM to its process group, then\n"
		 "SIGKILL when the grace period ends; waits until it has\n"
		 "exited. A killed agent is not restarted. An all-digit\n"
		 "argument is an ID.\n"
		 "\n"
		 "Options:\n"
		 "  -g, --grace TIME      from SIGTERM to SIGKILL: seconds,\n"
		 "                        or with a unit (500ms, 2s, 1m); 0\n"
		 "                        kills at once (default: 5s)\n",
	.run = kill_main,
};

const struct cli_command cmd_pause = {
	.name = "pause",
	.prog = "clove pause",
	.summary = "Pause an agent",
	.usage = "Usage: clove pause NAME|ID [OPTIONS]\n"
		 "\n"
		 "Stop an agent's whole process group (PAUSE) until\n"
		 "'clove resume'. An all-digit argument is an ID.\n",
	.run = pause_main,
};

const struct cli_command cmd_resume = {
	.name = "resume",
	.prog = "clove resume",
	.summary = "Resume a paused agent",
	.usage = "Usage: clove resume NAME|ID [OPTIONS]\n"
		 "\n"
		 "Continue a paused agent (RESUME). An all-digit argument\n"
		 "is an ID.\n",
	.run = resume_main,
};
