/* SPDX-License-Identifier: MIT */
/*
 * The clove CLI's side of a request: connecting lazily (so `--help` never
 * needs a kernel), encoding the JSON request, and classifying what comes
 * back. Every failure is reported here, once, so commands only deal with
 * successful replies.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "output.h"

static const char common_usage[] =
	"\nGlobal options:\n"
	"      --socket PATH     kernel socket (default: $CLOVE_FD when\n"
	"                        set, else $CLOVE_SOCKET, else\n"
	"                        /run/clove/clove.sock as root, else\n"
	"                        $XDG_RUNTIME_DIR/clove/clove.sock)\n"
	"      --json            print the kernel's JSON reply\n"
	"  -h, --help            show this help\n";

void cli_print_usage(const struct cli_command *cmd, FILE *f)
{
	fputs(cmd->usage, f);
	fputs(common_usage, f);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", cmd->prog);
	return CLI_EXIT_USAGE;
}

int cli_common_option(struct cli *cli, const struct cli_command *cmd, int opt,
		      const char *arg)
{
	switch (opt) {
	case CLI_OPT_SOCKET:
		cli->socket_path = arg;
		return CLI_CONTINUE;
	case CLI_OPT_JSON:
		cli->json = true;
		return CLI_CONTINUE;
	case 'h':
		cli_print_usage(cmd, stdout);
		return CLI_EXIT_OK;
	default:
		/* getopt_long() has printed what was wrong. */
		fprintf(stderr, "Try '%s --help' for more information.\n",
			cmd->prog);
		return CLI_EXIT_USAGE;
	}
}

static int connect_failed(struct cli *cli, int r)
{
	const char *fd = getenv("CLOVE_FD");
	_cleanup_free_ char *path = NULL;

	if (!cli->socket_path && fd && *fd) {
		fprintf(stderr,
			"clove: cannot use the inherited kernel connection "
			"(CLOVE_FD=%s): %s\n",
			fd, clove_strerror(r));
		return CLI_EXIT_CONNECT;
	}
	if (!cli->socket_path && clove_default_socket_path(&path) < 0) {
		fprintf(stderr, "clove: cannot connect to the kernel: %s\n",
			clove_strerror(r));
		return CLI_EXIT_CONNECT;
	}
	const char *shown = cli->socket_path ? cli->socket_path : path;
	fprintf(stderr, "clove: cannot connect to the kernel at %s: %s\n",
		shown, clove_strerror(r));
	if (r == -EACCES || r == -EPERM)
		fprintf(stderr, "The socket's owner and mode decide who may "
				"connect; run as that user or root.\n");
	else
		fprintf(stderr,
			"Is cloved running? Start it (cloved --socket "
			"%s) or pass --socket PATH.\n",
			shown);
	return CLI_EXIT_CONNECT;
}

/* Sends the request; on success *ret_raw is the reply text. */
static int exchange(struct cli *cli, uint8_t opcode, json_t *request,
		    char **ret_raw, size_t *ret_len)
{
	int r;

	if (!cli->client) {
		r = clove_connect(cli->socket_path, &cli->client);
		if (r < 0)
			return connect_failed(cli, r);
	}
	_cleanup_free_ char *text =
		request ? json_dumps(request, JSON_COMPACT) : strdup("{}");
	if (!text) {
		fprintf(stderr, "clove: out of memory\n");
		return CLI_EXIT_KERNEL;
	}
	void *raw;
	r = clove_call(cli->client, opcode, text, strlen(text), &raw, ret_len);
	if (r == -EMSGSIZE || r == -EPROTO) {
		fprintf(stderr, "clove: bad reply from the kernel: %s\n",
			clove_strerror(r));
		return CLI_EXIT_KERNEL;
	}
	if (r == -ECONNRESET) {
		fprintf(stderr, "clove: the kernel closed the connection\n");
		return CLI_EXIT_CONNECT;
	}
	if (r < 0) {
		fprintf(stderr,
			"clove: lost the connection to the kernel: %s\n",
			clove_strerror(r));
		return CLI_EXIT_CONNECT;
	}
	*ret_raw = raw;
	return CLI_EXIT_OK;
}

static int kernel_error(struct cli *cli, json_t *reply)
{
	const char *error = cli_json_string(reply, "error");
	const char *code = cli_json_string(reply, "code");

	if (cli->json)
		output_json(reply, stdout);
	fprintf(stderr, "clove: %s (%s)\n", error ? error : "request failed",
		code ? code : "no code");
	return clove_errno_from_name(code) == -ENOENT ? CLI_EXIT_NOT_FOUND
						      : CLI_EXIT_KERNEL;
}

int cli_request(struct cli *cli, uint8_t opcode, json_t *request,
		json_t **ret_reply)
{
	_cleanup_free_ char *raw = NULL;
	json_error_t jerr;
	size_t len;

	int r = exchange(cli, opcode, request, &raw, &len);
	if (r != CLI_EXIT_OK)
		return r;
	json_t *reply = json_loadb(raw, len, 0, &jerr);
	if (!reply) {
		fprintf(stderr, "clove: malformed reply from the kernel: %s\n",
			jerr.text);
		return CLI_EXIT_KERNEL;
	}
	json_t *success = json_is_object(reply)
				  ? json_object_get(reply, "success")
				  : NULL;
	if (json_is_false(success)) {
		r = kernel_error(cli, reply);
		json_decref(reply);
		return r;
	}
	*ret_reply = reply;
	return CLI_EXIT_OK;
}

const char *cli_json_string(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

bool cli_json_int(json_t *obj, const char *key, json_int_t *ret)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return false;
	*ret = json_integer_value(v);
	return true;
}
