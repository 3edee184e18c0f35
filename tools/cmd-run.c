/* SPDX-License-Identifier: MIT */
/*
 * `clove run SCRIPT`: starts an agent with SPAWN. The kernel wants an
 * absolute script path and does not share our working directory, so the
 * script is resolved here with realpath(); everything else is passed on
 * as given and validated by the kernel, except what is cheap to check
 * locally for a better message (name, restart policy, numbers). Resource
 * limits take human forms here (--memory 256M, --cpus 0.5, --pids 64) and
 * go to the kernel as SPAWN's "limits" in bytes and microseconds.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "macro.h"
#include "output.h"

/* --cpus is a share of this CFS period (µs), the kernel's default. */
#define RUN_CPU_PERIOD_US 100000
/* A sanity bound only; the kernel checks against the machine. */
#define RUN_MAX_CPUS 4096

/* Long-only options. */
enum {
	OPT_MEMORY = 0x100,
	OPT_CPUS,
	OPT_CPU_SHARES,
	OPT_PIDS,
};

struct run_opts {
	json_t *request; /* SPAWN payload being built */
	json_t *env;	 /* its "env", created on the first --env */
	json_t *limits;	 /* its "limits", created on the first limit */
};

static int run_set(const struct cli_command *cmd, json_t *obj, const char *key,
		   json_t *value)
{
	if (!value || json_object_set_new(obj, key, value) < 0)
		return cli_usage_error(cmd, "cannot encode %s (not UTF-8?)",
				       key);
	return CLI_CONTINUE;
}

static int run_limit(const struct cli_command *cmd, struct run_opts *o,
		     const char *key, uint64_t value)
{
	if (!o->limits) {
		o->limits = json_object();
		if (run_set(cmd, o->request, "limits", o->limits) !=
		    CLI_CONTINUE)
			return CLI_EXIT_USAGE;
	}
	return run_set(cmd, o->limits, key, json_integer((json_int_t)value));
}

/* --memory, --cpus, --cpu-shares, --pids; CLI_CONTINUE for other opts. */
static int run_limit_option(const struct cli_command *cmd, struct run_opts *o,
			    int opt, const char *arg)
{
	uint64_t n;
	int r;

	switch (opt) {
	case OPT_MEMORY:
		if (args_parse_size(arg, INT64_MAX, &n) < 0)
			return cli_usage_error(cmd,
					       "invalid --memory '%s' (bytes, "
					       "or with K, M, G, T: 256M)",
					       arg);
		return run_limit(cmd, o, "memory", n);
	case OPT_CPUS:
		if (args_parse_cpus(arg, RUN_CPU_PERIOD_US, RUN_MAX_CPUS, &n) <
		    0)
			return cli_usage_error(cmd,
					       "invalid --cpus '%s' (a share "
					       "of CPUs: 0.5, 2)",
					       arg);
		r = run_limit(cmd, o, "cpu_quota", n);
		if (r == CLI_CONTINUE)
			r = run_limit(cmd, o, "cpu_period", RUN_CPU_PERIOD_US);
		return r;
	case OPT_CPU_SHARES:
		if (args_parse_uint(arg, INT32_MAX, &n) < 0)
			return cli_usage_error(cmd, "invalid --cpu-shares '%s'",
					       arg);
		return run_limit(cmd, o, "cpu_shares", n);
	case OPT_PIDS:
		if (args_parse_uint(arg, INT32_MAX, &n) < 0)
			return cli_usage_error(cmd, "invalid --pids '%s'", arg);
		return run_limit(cmd, o, "max_pids", n);
	}
	return CLI_CONTINUE;
}

static int run_option(struct cli *cli, const struct cli_command *cmd,
		      struct run_opts *o, int opt, const char *arg)
{
	uint64_t n;

	switch (opt) {
	case OPT_MEMORY:
	case OPT_CPUS:
	case OPT_CPU_SHARES:
	case OPT_PIDS:
		return run_limit_option(cmd, o, opt, arg);
	case 'n':
		if (args_check_agent_name(arg) < 0)
			return cli_usage_error(cmd,
					       "invalid name '%s' (1-64 of "
					       "A-Z a-z 0-9 . _ -)",
					       arg);
		return run_set(cmd, o->request, "name", json_string(arg));
	case 'r':
		if (args_check_restart_policy(arg) < 0)
			return cli_usage_error(cmd,
					       "invalid restart policy '%s' "
					       "(never, always, on-failure)",
					       arg);
		return run_set(cmd, o->request, "restart_policy",
			       json_string(arg));
	case 'm':
		if (args_parse_uint(arg, INT32_MAX, &n) < 0)
			return cli_usage_error(
				cmd, "invalid --max-restarts '%s'", arg);
		return run_set(cmd, o->request, "max_restarts",
			       json_integer((json_int_t)n));
	case 'p':
		return run_set(cmd, o->request, "python", json_string(arg));
	case 'e':
		if (!o->env) {
			o->env = json_object();
			if (run_set(cmd, o->request, "env", o->env) !=
			    CLI_CONTINUE)
				return CLI_EXIT_USAGE;
		}
		if (args_env_to_json(arg, o->env) < 0)
			return cli_usage_error(cmd,
					       "invalid --env '%s' (want "
					       "KEY=VALUE)",
					       arg);
		return CLI_CONTINUE;
	default:
		return cli_common_option(cli, cmd, opt, arg);
	}
}

/* SCRIPT, made absolute, and ARGS after it. */
static int run_positionals(const struct cli_command *cmd, json_t *request,
			   int argc, char **argv)
{
	if (argc < 1)
		return cli_usage_error(cmd, "missing SCRIPT");

	_cleanup_free_ char *script = realpath(argv[0], NULL);
	if (!script) {
		int err = errno;
		fprintf(stderr, "%s: %s: %s\n", cmd->prog, argv[0],
			strerror(err));
		return err == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_USAGE;
	}
	int r = run_set(cmd, request, "script", json_string(script));
	if (r != CLI_CONTINUE)
		return r;
	if (argc == 1)
		return CLI_CONTINUE;

	json_t *args = json_array();
	r = run_set(cmd, request, "args", args);
	if (r != CLI_CONTINUE)
		return r;
	for (int i = 1; i < argc; i++)
		if (json_array_append_new(args, json_string(argv[i])) < 0)
			return cli_usage_error(cmd, "invalid argument '%s'",
					       argv[i]);
	return CLI_CONTINUE;
}

/* What isolation.cgroup says is in force, and what is not (and why). */
static void run_print_limits(json_t *reply)
{
	json_t *cg =
		json_object_get(json_object_get(reply, "isolation"), "cgroup");
	json_t *cpu = json_object_get(cg, "cpu"), *why;
	json_int_t v, q, p;
	const char *key;

	if (!json_is_object(cg))
		return;
	printf("limits:");
	if (cli_json_int(cg, "memory", &v))
		printf(" memory %" JSON_INTEGER_FORMAT " MiB", v >> 20);
	if (cli_json_int(cpu, "quota", &q) && cli_json_int(cpu, "period", &p) &&
	    p > 0)
		printf(" cpus %.2f", (double)q / (double)p);
	if (cli_json_int(cg, "shares", &v))
		printf(" cpu-shares %" JSON_INTEGER_FORMAT, v);
	if (cli_json_int(cg, "pids", &v))
		printf(" pids %" JSON_INTEGER_FORMAT, v);
	printf(" (cgroup %s)\n", cli_json_string(cg, "path")
					 ? cli_json_string(cg, "path")
					 : "none");
	json_object_foreach(json_object_get(cg, "unenforced"), key, why)
		fprintf(stderr, "warning: %s limit not enforced: %s\n", key,
			json_is_string(why) ? json_string_value(why) : "?");
}

static void run_print(json_t *reply)
{
	const char *name = cli_json_string(reply, "name");
	const char *log = cli_json_string(reply, "log_path");
	json_int_t id = 0, pid = 0;

	cli_json_int(reply, "id", &id);
	cli_json_int(reply, "pid", &pid);
	printf("started %s (id %" JSON_INTEGER_FORMAT
	       ", pid %" JSON_INTEGER_FORMAT ")\n",
	       name ? name : "agent", id, pid);
	if (log)
		printf("log: %s\n", log);
	run_print_limits(reply);
}

static int run_main(struct cli *cli, const struct cli_command *cmd, int argc,
		    char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "name", required_argument, NULL, 'n' },
		{ "restart", required_argument, NULL, 'r' },
		{ "max-restarts", required_argument, NULL, 'm' },
		{ "python", required_argument, NULL, 'p' },
		{ "env", required_argument, NULL, 'e' },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "cpu-shares", required_argument, NULL, OPT_CPU_SHARES },
		{ "pids", required_argument, NULL, OPT_PIDS },
		{},
	};
	_cleanup_json_ json_t *request = json_object();
	struct run_opts o = { .request = request };
	int opt, r;

	if (!request)
		return CLI_EXIT_KERNEL;
	while ((opt = getopt_long(argc, argv, "hn:r:p:e:", options, NULL)) >=
	       0) {
		r = run_option(cli, cmd, &o, opt, optarg);
		if (r != CLI_CONTINUE)
			return r;
	}
	r = run_positionals(cmd, request, argc - optind, argv + optind);
	if (r != CLI_CONTINUE)
		return r;

	_cleanup_json_ json_t *reply = NULL;
	r = cli_request(cli, CLOVE_OP_SPAWN, request, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (cli->json)
		output_json(reply, stdout);
	else
		run_print(reply);
	return CLI_EXIT_OK;
}

const struct cli_command cmd_run = {
	.name = "run",
	.prog = "clove run",
	.summary = "Start a script as an agent",
	.usage = "Usage: clove run SCRIPT [OPTIONS] [--] [ARGS...]\n"
		 "\n"
		 "Start SCRIPT as an agent (SPAWN); ARGS are passed to it.\n"
		 "Put ARGS that start with '-' after '--'.\n"
		 "\n"
		 "Options:\n"
		 "  -n, --name NAME       agent name, 1-64 of A-Za-z0-9._-\n"
		 "                        (default: agent-ID)\n"
		 "  -r, --restart POLICY  never (default), always, on-failure\n"
		 "      --max-restarts N  restarts allowed inside the restart\n"
		 "                        window before the agent is failed\n"
		 "  -p, --python PATH     interpreter to run SCRIPT with\n"
		 "  -e, --env KEY=VALUE   add to the agent's environment\n"
		 "                        (repeatable)\n"
		 "\n"
		 "Limits (enforced through the agent's cgroup):\n"
		 "      --memory SIZE     memory incl. swap: bytes, or 512K,\n"
		 "                        256M, 1G (binary units)\n"
		 "      --cpus N          CPU time as a share of CPUs: 0.5\n"
		 "                        is half of one CPU\n"
		 "      --cpu-shares N    relative CPU weight (default 1024)\n"
		 "      --pids N          most processes and threads at once\n",
	.run = run_main,
};
