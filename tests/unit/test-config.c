/* SPDX-License-Identifier: MIT */
/*
 * cloved's argument parsing: defaults from the environment, the config file
 * below the command line, and clear refusals of bad input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static int parse(struct config *cfg, char *err, int argc, char **argv)
{
	return config_parse(cfg, argc, argv, err, 512);
}

static void env_defaults(void **state)
{
	struct config cfg;
	char err[512];
	char *argv[] = { "cloved", NULL };

	setenv("CLOVE_SOCKET", "/tmp/x/clove.sock", 1);
	setenv("CLOVE_STATE_DIR", "/tmp/x/state", 1);
	assert_int_equal(parse(&cfg, err, 1, argv), 0);
	assert_string_equal(cfg.socket_path, "/tmp/x/clove.sock");
	assert_string_equal(cfg.state_dir, "/tmp/x/state");
	assert_int_equal(cfg.log_level, LOG_LVL_INFO);
	assert_int_equal(cfg.kill_grace_ms, 5000);
	unsetenv("CLOVE_SOCKET");
	unsetenv("CLOVE_STATE_DIR");

	if (geteuid() == 0) {
		assert_int_equal(parse(&cfg, err, 1, argv), 0);
		assert_string_equal(cfg.socket_path, "/run/clove/clove.sock");
		assert_string_equal(cfg.state_dir, "/var/lib/clove");
	}
}

static void command_line_wins(void **state)
{
	struct config cfg;
	char err[512];
	char path[] = "/tmp/clove-test-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "{\"socket\": \"/from/file.sock\", \"state_dir\": \"/from/file\","
			    " \"log_level\": \"warn\", \"kill_grace_ms\": 100}";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);

	char *argv[] = { "cloved", "--socket", "/cli.sock", "--config", path,
			 "--log-level", "debug", NULL };
	assert_int_equal(parse(&cfg, err, 7, argv), 0);
	assert_string_equal(cfg.socket_path, "/cli.sock");
	assert_string_equal(cfg.state_dir, "/from/file");
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg.kill_grace_ms, 100);
	unlink(path);
}

static void refusals(void **state)
{
	struct config cfg;
	char err[512];

	char *a1[] = { "cloved", "--log-level", "loud", NULL };
	assert_int_equal(parse(&cfg, err, 3, a1), -EINVAL);
	assert_non_null(strstr(err, "--log-level"));

	char *a2[] = { "cloved", "--bogus", NULL };
	assert_int_equal(parse(&cfg, err, 2, a2), -EINVAL);

	char *a3[] = { "cloved", "--socket", "relative.sock", NULL };
	assert_int_equal(parse(&cfg, err, 3, a3), -EINVAL);
	assert_non_null(strstr(err, "absolute"));

	char *a4[] = { "cloved", "--config", "/nonexistent/clove.json", NULL };
	assert_int_equal(parse(&cfg, err, 3, a4), -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/clove.json"));

	char *a5[] = { "cloved", "stray", NULL };
	assert_int_equal(parse(&cfg, err, 2, a5), -EINVAL);
	assert_non_null(strstr(err, "stray"));

	char *a6[] = { "cloved", "--socket", NULL };
	assert_int_equal(parse(&cfg, err, 2, a6), -EINVAL);
}

static void operator_permissions(void **state)
{
	struct config cfg;
	char err[512];
	char path[] = "/tmp/clove-test-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "{\"operator_permissions\": {\"level\": \"readonly\"}}";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);

	char *a0[] = { "cloved", NULL };
	assert_int_equal(parse(&cfg, err, 1, a0), 0);
	assert_string_equal(cfg.operator_permissions, "");
	char *a1[] = { "cloved", "--config", path, NULL };
	assert_int_equal(parse(&cfg, err, 3, a1), 0);
	assert_string_equal(cfg.operator_permissions, "{\"level\":\"readonly\"}");
	char *a2[] = { "cloved", "--config", path, "--operator-permissions", "minimal", NULL };
	assert_int_equal(parse(&cfg, err, 5, a2), 0);
	assert_string_equal(cfg.operator_permissions, "minimal");
	char *a3[] = { "cloved", "--operator-permissions", "", NULL };
	assert_int_equal(parse(&cfg, err, 3, a3), -EINVAL);
	assert_non_null(strstr(err, "--operator-permissions"));
	unlink(path);
}

/* Writes text to a temporary config file and parses it with argv. */
static int parse_file(struct config *cfg, char *err, const char *text)
{
	char path[] = "/tmp/clove-test-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char *argv[] = { "cloved", "--config", path, NULL };
	int r = parse(cfg, err, 3, argv);
	unlink(path);
	return r;
}

static void llm_settings(void **state)
{
	struct config cfg;
	char err[512];
	char *argv[] = { "cloved", NULL };

	unsetenv("CLOVE_LLM_PROVIDER");
	unsetenv("CLOVE_LLM_MODEL");
	assert_int_equal(parse(&cfg, err, 1, argv), 0);
	assert_string_equal(cfg.llm_provider, "gemini");
	assert_string_equal(cfg.llm_model, "gemini-2.5-flash");
	assert_int_equal(cfg.llm_workers, 2);
	assert_int_equal(cfg.llm_concurrency, 4);
	assert_int_equal(cfg.llm_rpm, 0);
	assert_int_equal(cfg.llm_tpm, 0);
	assert_true(cfg.llm_price_per_1k == 0);

	/* The environment picks the provider; its default model follows. */
	setenv("CLOVE_LLM_PROVIDER", "openai", 1);
	assert_int_equal(parse(&cfg, err, 1, argv), 0);
	assert_string_equal(cfg.llm_model, "gpt-4o-mini");
	setenv("CLOVE_LLM_MODEL", "llama3", 1);
	assert_int_equal(parse(&cfg, err, 1, argv), 0);
	assert_string_equal(cfg.llm_model, "llama3");
	setenv("CLOVE_LLM_PROVIDER", "anthropic", 1);
	assert_int_equal(parse(&cfg, err, 1, argv), -EINVAL);
	assert_non_null(strstr(err, "gemini or openai"));
	unsetenv("CLOVE_LLM_PROVIDER");
	unsetenv("CLOVE_LLM_MODEL");

	/* The file overrides the environment. */
	setenv("CLOVE_LLM_MODEL", "from-env", 1);
	assert_int_equal(
		parse_file(&cfg, err,
			   "{\"llm_provider\": \"openai\", \"llm_model\": "
			   "\"m\", \"llm_workers\": 3, \"llm_concurrency\": 8, "
			   "\"llm_rpm\": 60, \"llm_tpm\": 100000, "
			   "\"llm_price_per_1k\": 0.25, \"llm_python\": "
			   "\"/usr/bin/python3\"}"),
		0);
	unsetenv("CLOVE_LLM_MODEL");
	assert_string_equal(cfg.llm_provider, "openai");
	assert_string_equal(cfg.llm_model, "m");
	assert_string_equal(cfg.llm_python, "/usr/bin/python3");
	assert_int_equal(cfg.llm_workers, 3);
	assert_int_equal(cfg.llm_concurrency, 8);
	assert_int_equal(cfg.llm_rpm, 60);
	assert_int_equal(cfg.llm_tpm, 100000);
	assert_true(cfg.llm_price_per_1k == 0.25);

	static const char *const bad[][2] = {
		{ "{\"llm_workers\": 0}", "llm_workers" },
		{ "{\"llm_workers\": 17}", "llm_workers" },
		{ "{\"llm_concurrency\": \"4\"}", "llm_concurrency" },
		{ "{\"llm_rpm\": -1}", "llm_rpm" },
		{ "{\"llm_price_per_1k\": -0.1}", "llm_price_per_1k" },
		{ "{\"llm_model\": \"\"}", "llm_model" },
		{ "{\"llm_provider\": \"x\"}", "gemini or openai" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_file(&cfg, err, bad[i][0]), -EINVAL);
		assert_non_null(strstr(err, bad[i][1]));
	}
}

static void help_and_version(void **state)
{
	struct config cfg;
	char err[512];
	char *a1[] = { "cloved", "--help", NULL };
	assert_int_equal(parse(&cfg, err, 2, a1), 0);
	assert_true(cfg.show_help);
	char *a2[] = { "cloved", "--version", NULL };
	assert_int_equal(parse(&cfg, err, 2, a2), 0);
	assert_true(cfg.show_version);
	assert_non_null(strstr(config_usage(), "--state-dir"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(env_defaults),
		cmocka_unit_test(command_line_wins),
		cmocka_unit_test(refusals),
		cmocka_unit_test(operator_permissions),
		cmocka_unit_test(help_and_version),
		cmocka_unit_test(llm_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
