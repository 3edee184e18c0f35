/* SPDX-License-Identifier: MIT */
/*
 * cloved's settings: command line, config file (JSON) and environment, with
 * the defaults of a root or a user daemon. Pure parsing, unit-tested.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include "log.h"

struct config {
	char socket_path[PATH_MAX];
	char state_dir[PATH_MAX];
	char config_file[PATH_MAX];
	/* Interpreter SPAWN uses when the request names none. */
	char python[PATH_MAX];
	/* Operators' permission policy: "" (unrestricted), a level name or
	 * a JSON policy object (perm.h). */
	char operator_permissions[4096];
	/* LLM (docs/llm.md): the worker pool's interpreter ("" = python),
	 * provider (gemini | openai) and default model, and the scheduler's
	 * limits (0 = unlimited for rpm and tpm). */
	char llm_python[PATH_MAX];
	char llm_provider[16];
	char llm_model[128];
	unsigned llm_workers;
	unsigned llm_concurrency;
	unsigned long long llm_rpm;
	unsigned long long llm_tpm;
	/* USD per 1000 tokens, for llm.max_cost_usd; 0: calls cost nothing. */
	double llm_price_per_1k;
	enum log_level log_level;
	unsigned max_agents;
	unsigned kill_grace_ms;
	bool show_help;
	bool show_version;
};

/*
 * Fills cfg from defaults, then the environment, then the config file named
 * by --config, then the command line (each overriding the previous).
 * Returns 0, or -EINVAL with a message in err (size errlen).
 */
int config_parse(struct config *cfg, int argc, char **argv, char *err,
		 size_t errlen);

/* Usage text for --help. */
const char *config_usage(void);
