/* SPDX-License-Identifier: MIT */
/*
 * `clove status`: what HELLO says about the kernel, as "key  value" lines.
 * Absent fields are skipped, so a kernel with fewer figures still prints
 * what it has.
 */
#include <stdio.h>

#include "cli.h"
#include "output.h"

static void status_line(const char *key, const char *value)
{
	if (value)
		printf("%-12s %s\n", key, value);
}

static void status_int(json_t *obj, const char *key, const char *label)
{
	json_int_t v;
	char buf[24];

	if (!cli_json_int(obj, key, &v))
		return;
	snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, v);
	status_line(label, buf);
}

static void status_version(json_t *reply)
{
	const char *version = cli_json_string(reply, "kernel_version");
	json_int_t proto;
	char buf[96];

	if (!version)
		return;
	if (cli_json_int(reply, "protocol_version", &proto))
		snprintf(buf, sizeof(buf),
			 "cloved %s (protocol %" JSON_INTEGER_FORMAT ")",
			 version, proto);
	else
		snprintf(buf, sizeof(buf), "cloved %s", version);
	status_line("kernel", buf);
}

static void status_agents(json_t *kernel)
{
	json_int_t running, total;
	char buf[64];

	if (!cli_json_int(kernel, "agents_running", &running) ||
	    !cli_json_int(kernel, "agents_total", &total))
		return;
	snprintf(buf, sizeof(buf),
		 "%" JSON_INTEGER_FORMAT " running, %" JSON_INTEGER_FORMAT
		 " total",
		 running, total);
	status_line("agents", buf);
}

/* The features this kernel has, space-separated, in the reply's order. */
static void status_features(json_t *reply)
{
	json_t *features = json_object_get(reply, "features");
	const char *name;
	json_t *on;
	bool any = false;

	if (!json_is_object(features))
		return;
	json_object_foreach(features, name, on) {
		if (!json_is_true(on))
			continue;
		printf(any ? " %s" : "%-12s %s", any ? name : "features", name);
		any = true;
	}
	if (any)
		putchar('\n');
}

/* The kernel's LLM figures (HELLO's kernel.llm). */
static void status_llm(json_t *kernel)
{
	json_t *llm = json_object_get(kernel, "llm");
	json_t *workers = json_object_get(llm, "workers");
	json_int_t calls = 0, tokens = 0, errors = 0, queued = 0, running = 0;
	json_int_t ready = 0, nworkers = 0;
	char buf[256];

	if (!json_is_object(llm))
		return;
	(void)cli_json_int(llm, "calls", &calls);
	(void)cli_json_int(llm, "total_tokens", &tokens);
	(void)cli_json_int(llm, "errors", &errors);
	(void)cli_json_int(llm, "queued", &queued);
	(void)cli_json_int(llm, "in_flight", &running);
	(void)cli_json_int(workers, "ready", &ready);
	(void)cli_json_int(workers, "workers", &nworkers);
	snprintf(buf, sizeof(buf), "%s %s",
		 cli_json_string(llm, "provider") ?: "?",
		 cli_json_string(llm, "model") ?: "?");
	status_line("llm", buf);
	snprintf(buf, sizeof(buf),
		 "%" JSON_INTEGER_FORMAT " calls, %" JSON_INTEGER_FORMAT
		 " tokens, %" JSON_INTEGER_FORMAT " errors, %" JSON_INTEGER_FORMAT
		 " queued, %" JSON_INTEGER_FORMAT " running",
		 calls, tokens, errors, queued, running);
	status_line("llm usage", buf);
	if (!json_is_true(json_object_get(workers, "started")))
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT
			 " (they start on the first THINK)", nworkers);
	else
		snprintf(buf, sizeof(buf),
		 "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " ready%s%s",
		 ready, nworkers,
		 cli_json_string(workers, "error") ? ": " : "",
		 cli_json_string(workers, "error") ?: "");
	status_line("llm workers", buf);
}

static void status_print(json_t *reply)
{
	json_t *kernel = json_object_get(reply, "kernel");
	json_int_t ms;
	char uptime[32];

	status_version(reply);
	status_int(kernel, "pid", "pid");
	if (cli_json_int(kernel, "uptime_ms", &ms) && ms >= 0) {
		output_format_duration((uint64_t)ms, uptime, sizeof(uptime));
		status_line("uptime", uptime);
	}
	status_line("socket", cli_json_string(kernel, "socket"));
	status_line("state dir", cli_json_string(kernel, "state_dir"));
	status_agents(kernel);
	status_int(kernel, "connections", "connections");
	status_llm(kernel);
	status_line("role", cli_json_string(reply, "role"));
	status_line("agent", cli_json_string(reply, "agent_name"));
	status_features(reply);
}

static int status_main(struct cli *cli, const struct cli_command *cmd, int argc,
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

	r = cli_request(cli, CLOVE_OP_HELLO, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (cli->json)
		output_json(reply, stdout);
	else
		status_print(reply);
	return CLI_EXIT_OK;
}

const struct cli_command cmd_status = {
	.name = "status",
	.prog = "clove status",
	.summary = "Show the kernel's status",
	.usage = "Usage: clove status [OPTIONS]\n"
		 "\n"
		 "Show the kernel's version, pid, uptime, socket, state\n"
		 "directory, agents, connections and features (HELLO).\n",
	.run = status_main,
};
