/* SPDX-License-Identifier: MIT */
/*
 * cloved's settings. Precedence, lowest first: built-in defaults (root or
 * user daemon), environment (CLOVE_SOCKET, CLOVE_STATE_DIR, CLOVE_PYTHON,
 * CLOVE_LLM_PROVIDER, CLOVE_LLM_MODEL),
 * the JSON config file, the command line. The config file is read before
 * the other options are applied so the command line always wins.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clove-config.h"

static const char usage[] =
	"Usage: cloved [OPTIONS]\n"
	"Runs the Clove kernel in the foreground; logs go to stderr.\n\n"
	"  --socket PATH      Unix socket to listen on (default: $CLOVE_SOCKET,\n"
	"                     /run/clove/clove.sock as root,\n"
	"                     $XDG_RUNTIME_DIR/clove/clove.sock otherwise)\n"
	"  --state-dir DIR    agent logs and work directories (default:\n"
	"                     /var/lib/clove as root, $XDG_STATE_HOME/clove)\n"
	"  --config FILE      JSON settings: socket, state_dir, python,\n"
	"                     log_level, max_agents, kill_grace_ms,\n"
	"                     operator_permissions, llm_provider, llm_model,\n"
	"                     llm_python, llm_workers, llm_concurrency,\n"
	"                     llm_rpm, llm_tpm, llm_price_per_1k\n"
	"  --python PATH      interpreter for agents whose SPAWN names none\n"
	"  --operator-permissions LEVEL|JSON\n"
	"                     what operator connections may do (default:\n"
	"                     unrestricted; see docs/permissions.md)\n"
	"  --log-level LEVEL  error, warn, info (default) or debug\n"
	"  -h, --help         this text\n"
	"  --version          print the version\n";

const char *config_usage(void)
{
	return usage;
}

_printf_(3, 4) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int set_path(char *dst, const char *value, const char *what, char *err,
		    size_t errlen)
{
	if (!value || !*value)
		return fail(err, errlen, "%s must not be empty", what);
	if ((size_t)snprintf(dst, PATH_MAX, "%s", value) >= PATH_MAX)
		return fail(err, errlen, "%s is too long", what);
	return 0;
}

/* A level name, or a policy object kept as compact JSON text. */
static int set_permissions(struct config *cfg, json_t *v, const char *what,
			   char *err, size_t errlen)
{
	char *text = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
	const char *s = json_is_string(v) ? json_string_value(v) : text;
	int r = 0;

	if (!s || !*s)
		r = fail(err, errlen, "%s must be a level name or an object",
			 what);
	else if ((size_t)snprintf(cfg->operator_permissions,
				  sizeof(cfg->operator_permissions), "%s",
				  s) >= sizeof(cfg->operator_permissions))
		r = fail(err, errlen, "%s is too long", what);
	free(text);
	return r;
}

static int set_text(char *dst, size_t size, json_t *v, const char *what,
		    char *err, size_t errlen)
{
	const char *s = json_string_value(v);
	if (!s || !*s)
		return fail(err, errlen, "%s must be a non-empty string", what);
	if ((size_t)snprintf(dst, size, "%s", s) >= size)
		return fail(err, errlen, "%s is too long", what);
	return 0;
}

/* An integer setting within [min, max]. */
static int set_uint(unsigned long long *dst, json_t *v, long long min,
		    long long max, const char *what, char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return fail(err, errlen, "%s must be an integer from %lld to %lld",
			    what, min, max);
	*dst = (unsigned long long)json_integer_value(v);
	return 0;
}

/* The llm_* keys of the config file; 1 when key is none of them. */
static int apply_llm_key(struct config *cfg, const char *key, json_t *v,
			 char *err, size_t errlen)
{
	unsigned long long n = 0;
	int r;

	if (!strcmp(key, "llm_provider"))
		return set_text(cfg->llm_provider, sizeof(cfg->llm_provider), v,
				key, err, errlen);
	if (!strcmp(key, "llm_model"))
		return set_text(cfg->llm_model, sizeof(cfg->llm_model), v, key,
				err, errlen);
	if (!strcmp(key, "llm_python"))
		return set_text(cfg->llm_python, sizeof(cfg->llm_python), v,
				key, err, errlen);
	if (!strcmp(key, "llm_rpm"))
		return set_uint(&cfg->llm_rpm, v, 0, 1000000000, key, err,
				errlen);
	if (!strcmp(key, "llm_tpm"))
		return set_uint(&cfg->llm_tpm, v, 0, 1000000000000LL, key, err,
				errlen);
	if (!strcmp(key, "llm_workers") || !strcmp(key, "llm_concurrency")) {
		r = set_uint(&n, v, 1, key[4] == 'w' ? 16 : 1024, key, err,
			     errlen);
		if (r == 0 && key[4] == 'w')
			cfg->llm_workers = (unsigned)n;
		else if (r == 0)
			cfg->llm_concurrency = (unsigned)n;
		return r;
	}
	if (!strcmp(key, "llm_price_per_1k")) {
		if (!json_is_number(v) || json_number_value(v) < 0 ||
		    json_number_value(v) > 1000)
			return fail(err, errlen, "%s must be a number from 0 "
				    "to 1000 (USD)", key);
		cfg->llm_price_per_1k = json_number_value(v);
		return 0;
	}
	return 1;
}

/* After every source: the provider is known, the model defaults to it. */
static int check_llm(struct config *cfg, char *err, size_t errlen)
{
	if (strcmp(cfg->llm_provider, "gemini") != 0 &&
	    strcmp(cfg->llm_provider, "openai") != 0)
		return fail(err, errlen, "llm provider must be gemini or openai, "
			    "not '%s'", cfg->llm_provider);
	if (!cfg->llm_model[0])
		snprintf(cfg->llm_model, sizeof(cfg->llm_model), "%s",
			 strcmp(cfg->llm_provider, "gemini") == 0 ?
				 "gemini-2.5-flash" : "gpt-4o-mini");
	return 0;
}

static void set_defaults(struct config *cfg)
{
	const char *env;
	bool root = geteuid() == 0;
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LVL_INFO;
	cfg->max_agents = 4096;
	cfg->kill_grace_ms = 5000;
	cfg->llm_workers = 2;
	cfg->llm_concurrency = 4;
	snprintf(cfg->llm_provider, sizeof(cfg->llm_provider), "gemini");
	if ((env = getenv("CLOVE_LLM_PROVIDER")) && *env)
		snprintf(cfg->llm_provider, sizeof(cfg->llm_provider), "%s",
			 env);
	if ((env = getenv("CLOVE_LLM_MODEL")) && *env)
		snprintf(cfg->llm_model, sizeof(cfg->llm_model), "%s", env);

	/* The same defaults as libclove and clove_sdk, so clients find us. */
	if ((env = getenv("CLOVE_SOCKET")) && *env)
		snprintf(cfg->socket_path, PATH_MAX, "%s", env);
	else if (root)
		snprintf(cfg->socket_path, PATH_MAX, "/run/clove/clove.sock");
	else if (runtime && runtime[0] == '/')
		snprintf(cfg->socket_path, PATH_MAX, "%s/clove/clove.sock",
			 runtime);
	else
		snprintf(cfg->socket_path, PATH_MAX,
			 "/run/user/%u/clove/clove.sock", (unsigned)geteuid());

	if ((env = getenv("CLOVE_STATE_DIR")) && *env)
		snprintf(cfg->state_dir, PATH_MAX, "%s", env);
	else if (root)
		snprintf(cfg->state_dir, PATH_MAX, "/var/lib/clove");
	else if (state && *state)
		snprintf(cfg->state_dir, PATH_MAX, "%s/clove", state);
	else
		snprintf(cfg->state_dir, PATH_MAX, "%s/.local/state/clove",
			 home ? home : "");

	if ((env = getenv("CLOVE_PYTHON")) && *env)
		snprintf(cfg->python, PATH_MAX, "%s", env);
	else if (CLOVE_DEFAULT_PYTHON[0] &&
		 access(CLOVE_DEFAULT_PYTHON, X_OK) == 0)
		snprintf(cfg->python, PATH_MAX, "%s", CLOVE_DEFAULT_PYTHON);
	else
		snprintf(cfg->python, PATH_MAX, "python3");
}

static int apply_file(struct config *cfg, const char *path, char *err,
		      size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);

	int r = 0;
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		if (!strcmp(key, "socket") && json_is_string(v))
			r = set_path(cfg->socket_path, json_string_value(v), key, err, errlen);
		else if (!strcmp(key, "state_dir") && json_is_string(v))
			r = set_path(cfg->state_dir, json_string_value(v), key, err, errlen);
		else if (!strcmp(key, "python") && json_is_string(v))
			r = set_path(cfg->python, json_string_value(v), key, err, errlen);
		else if ((r = apply_llm_key(cfg, key, v, err, errlen)) <= 0)
			; /* an llm_* key, applied or refused */
		else if (!strcmp(key, "operator_permissions"))
			r = set_permissions(cfg, v, key, err, errlen);
		else if (!strcmp(key, "log_level") && json_is_string(v)) {
			int lvl = log_level_from_name(json_string_value(v));
			r = lvl < 0 ? fail(err, errlen, "%s: bad log_level", path) : 0;
			if (lvl >= 0)
				cfg->log_level = (enum log_level)lvl;
		} else if (!strcmp(key, "max_agents") && json_is_integer(v) &&
			   json_integer_value(v) > 0 && json_integer_value(v) <= 65536)
			cfg->max_agents = (unsigned)json_integer_value(v);
		else if (!strcmp(key, "kill_grace_ms") && json_is_integer(v) &&
			 json_integer_value(v) >= 0 && json_integer_value(v) <= 300000)
			cfg->kill_grace_ms = (unsigned)json_integer_value(v);
		else
			r = fail(err, errlen, "%s: unknown or invalid setting '%s'",
				 path, key);
		if (r < 0)
			break;
		r = 0;
	}
	json_decref(root);
	return r;
}

enum { OPT_SOCKET = 256, OPT_STATE_DIR, OPT_CONFIG, OPT_PYTHON, OPT_LOG_LEVEL,
       OPT_VERSION, OPT_OPERATOR_PERMISSIONS };

static const struct option options[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "python", required_argument, NULL, OPT_PYTHON },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "operator-permissions", required_argument, NULL,
	  OPT_OPERATOR_PERMISSIONS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{},
};

static int apply_option(struct config *cfg, int opt, const char *arg,
			char *err, size_t errlen)
{
	int lvl;
	switch (opt) {
	case OPT_SOCKET:
		return set_path(cfg->socket_path, arg, "--socket", err, errlen);
	case OPT_STATE_DIR:
		return set_path(cfg->state_dir, arg, "--state-dir", err, errlen);
	case OPT_PYTHON:
		return set_path(cfg->python, arg, "--python", err, errlen);
	case OPT_OPERATOR_PERMISSIONS: {
		json_t *v = json_string(arg);
		int r = set_permissions(cfg, v, "--operator-permissions", err,
					errlen);
		json_decref(v);
		return r;
	}
	case OPT_LOG_LEVEL:
		lvl = log_level_from_name(arg);
		if (lvl < 0)
			return fail(err, errlen, "--log-level must be error, warn, "
				    "info or debug, not '%s'", arg);
		cfg->log_level = (enum log_level)lvl;
		return 0;
	case 'h':
		cfg->show_help = true;
		return 0;
	case OPT_VERSION:
		cfg->show_version = true;
		return 0;
	case OPT_CONFIG:
		return 0;
	default:
		return fail(err, errlen, "unknown option (see cloved --help)");
	}
}

int config_parse(struct config *cfg, int argc, char **argv, char *err,
		 size_t errlen)
{
	set_defaults(cfg);

	/* First pass: only --config, so the file sits below the command line. */
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == '?')
			return fail(err, errlen, "unknown option or missing "
				    "argument (see cloved --help)");
		if (opt == OPT_CONFIG) {
			int r = set_path(cfg->config_file, optarg, "--config", err, errlen);
			if (r < 0)
				return r;
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (cfg->config_file[0]) {
		int r = apply_file(cfg, cfg->config_file, err, errlen);
		if (r < 0)
			return r;
	}

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		int r = apply_option(cfg, opt, optarg, err, errlen);
		if (r < 0)
			return r;
	}
	if (cfg->socket_path[0] != '/' || cfg->state_dir[0] != '/')
		return fail(err, errlen, "socket and state directory must be "
			    "absolute paths");
	return check_llm(cfg, err, errlen);
}
