/* SPDX-License-Identifier: MIT */
/*
 * clove, the command-line client of the Clove kernel: global options, the
 * command table and dispatch. Each command lives in its own cmd-*.c file
 * and parses its own options with getopt_long(); top-level parsing stops
 * at the command name so `clove --json ps` and `clove ps --json` both work.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clove-config.h"

static const struct cli_command *const commands[] = {
	&cmd_run,    &cmd_ps,	&cmd_kill,   &cmd_pause,
	&cmd_resume, &cmd_logs, &cmd_status, &cmd_events, &cmd_audit,
};

static void print_main_usage(FILE *f)
{
	fputs("Usage: clove [--socket PATH] [--json] COMMAND [ARGS...]\n"
	      "\n"
	      "Control a Clove kernel (cloved) and its agents.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i]->name,
			commands[i]->summary);
	fputs("  help     Show the help of a command\n"
	      "\n"
	      "Options:\n"
	      "      --socket PATH  kernel socket (default: $CLOVE_FD when\n"
	      "                     set, else $CLOVE_SOCKET, else\n"
	      "                     /run/clove/clove.sock as root, else\n"
	      "                     $XDG_RUNTIME_DIR/clove/clove.sock)\n"
	      "      --json         print the kernel's JSON replies\n"
	      "  -h, --help         show this help\n"
	      "  -V, --version      show the version\n"
	      "\n"
	      "Run 'clove COMMAND --help' for a command's options.\n"
	      "\n"
	      "Exit status: 0 success, 1 the kernel returned an error,\n"
	      "2 usage error, 3 cannot reach the kernel, 4 not found.\n",
	      f);
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	fprintf(stderr,
		"clove: unknown command '%s'\n"
		"Try 'clove --help' for the list of commands.\n",
		name);
	return CLI_EXIT_USAGE;
}

/* `clove help [COMMAND]` */
static int run_help(int argc, char **argv)
{
	if (argc < 2) {
		print_main_usage(stdout);
		return CLI_EXIT_OK;
	}
	const struct cli_command *cmd = find_command(argv[1]);
	if (!cmd)
		return unknown_command(argv[1]);
	cli_print_usage(cmd, stdout);
	return CLI_EXIT_OK;
}

static int parse_global(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, CLI_OPT_SOCKET },
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "+hV", options, NULL)) >= 0) {
		switch (opt) {
		case CLI_OPT_SOCKET:
			cli->socket_path = optarg;
			break;
		case CLI_OPT_JSON:
			cli->json = true;
			break;
		case 'h':
			print_main_usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("clove %s\n", CLOVE_VERSION);
			return CLI_EXIT_OK;
		default:
			fputs("Try 'clove --help' for more information.\n",
			      stderr);
			return CLI_EXIT_USAGE;
		}
	}
	return CLI_CONTINUE;
}

int main(int argc, char **argv)
{
	struct cli cli = {};

	int r = parse_global(&cli, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (optind >= argc) {
		print_main_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0)
		return run_help(argc - optind, argv + optind);

	const struct cli_command *cmd = find_command(argv[optind]);
	if (!cmd)
		return unknown_command(argv[optind]);

	/* getopt's messages name argv[0]; make that "clove CMD". */
	char **sub_argv = argv + optind;
	sub_argv[0] = (char *)cmd->prog;
	optind = 0; /* full re-initialisation for the command's parse */
	r = cmd->run(&cli, cmd, argc - (int)(sub_argv - argv), sub_argv);

	clove_close(cli.client);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("clove: writing output");
		return r == CLI_EXIT_OK ? CLI_EXIT_KERNEL : r;
	}
	return r;
}
