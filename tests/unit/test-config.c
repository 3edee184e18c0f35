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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
