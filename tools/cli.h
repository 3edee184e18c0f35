/* SPDX-License-Identifier: MIT */
/*
 * Shared by the clove CLI's commands: the command table entry, the global
 * options every command accepts (--socket, --json, --help), exit statuses,
 * and cli_request(), which sends one JSON request through libclove and
 * turns kernel errors into messages and exit statuses in one place.
 */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "clove.h"

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_KERNEL = 1,	/* the kernel answered with an error */
	CLI_EXIT_USAGE = 2,	/* bad command line */
	CLI_EXIT_CONNECT = 3,	/* the kernel cannot be reached */
	CLI_EXIT_NOT_FOUND = 4, /* no such agent (ENOENT) */
};

/* cli_common_option(): the option was a global one, keep parsing. */
#define CLI_CONTINUE (-1)

struct cli {
	const char *socket_path;     /* --socket; NULL: libclove's default */
	bool json;		     /* --json: print raw replies */
	struct clove_client *client; /* connected on first request */
};

struct cli_command {
	const char *name;    /* "run" */
	const char *prog;    /* "clove run", for messages */
	const char *summary; /* one line for `clove --help` */
	const char *usage;   /* the text of `clove CMD --help`, sans globals */
	int (*run)(struct cli *cli, const struct cli_command *cmd, int argc,
		   char **argv);
};

/* The commands, one per cmd-*.c file. */
extern const struct cli_command cmd_run;
extern const struct cli_command cmd_ps;
extern const struct cli_command cmd_kill;
extern const struct cli_command cmd_pause;
extern const struct cli_command cmd_resume;
extern const struct cli_command cmd_logs;
extern const struct cli_command cmd_status;
extern const struct cli_command cmd_events;
extern const struct cli_command cmd_audit;

/* Long-option values of the global options, above any short option. */
enum {
	CLI_OPT_SOCKET = 0x100,
	CLI_OPT_JSON,
};

/* The global options, for every command's getopt_long() table. */
/* clang-format off */
#define CLI_COMMON_OPTIONS \
	{ "socket", required_argument, NULL, CLI_OPT_SOCKET }, \
	{ "json", no_argument, NULL, CLI_OPT_JSON }, \
	{ "help", no_argument, NULL, 'h' }
/* clang-format on */

/* Prints a command's help (with the global options) to f. */
void cli_print_usage(const struct cli_command *cmd, FILE *f);

/*
 * Handles an option a command's own switch did not: the global ones give
 * CLI_CONTINUE, -h prints help and gives CLI_EXIT_OK, anything else
 * (getopt's '?', ':') points at --help and gives CLI_EXIT_USAGE.
 */
int cli_common_option(struct cli *cli, const struct cli_command *cmd, int opt,
		      const char *arg);

/* Prints "PROG: message" and a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Sends request (NULL: {}) with opcode and parses the reply. Returns
 * CLI_EXIT_OK with *ret_reply set (an object or, for LIST, an array), or
 * the exit status after printing why: an error reply prints
 * "clove: <error> (<code>)" (and the reply itself under --json).
 */
int cli_request(struct cli *cli, uint8_t opcode, json_t *request,
		json_t **ret_reply);

/* Field accessors for replies; absent or mistyped fields are "missing". */
const char *cli_json_string(json_t *obj, const char *key);
bool cli_json_int(json_t *obj, const char *key, json_int_t *ret);

static inline void cli_json_decrefp(json_t **j)
{
	json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cli_json_decrefp)))
