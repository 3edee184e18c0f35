/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the cgroup v2 backend against a fake cgroupfs in a temp
 * directory (fake-cgroupfs.h): controllers enabled in cgroup.subtree_control
 * from cloved's cgroup down, memory.max / memory.swap.max / memory.oom.group
 * / cpu.max / cpu.weight / pids.max written and read back, memory.events,
 * pids.events and cpu.stat read, cgroup.freeze, cgroup.kill, removal and the
 * sweep of leftovers. Also the parsers and the limit checks both backends
 * share. Nothing here touches the real /sys/fs/cgroup except cgroup_detect()
 * looking at it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cgroup-internal.h"
#include "fake-cgroupfs.h"

#define OWN  "svc"
#define INST "inst"
#define AG   OWN "/clove/" INST "/agent-1"

static const char *const agent_files[] = {
	"memory.max",	    "memory.swap.max",
	"memory.oom.group", "cpu.max",
	"cpu.weight",	    "pids.max",
	"memory.events",    "pids.events",
	"cpu.stat",	    "cgroup.events",
	"cgroup.freeze",    "cgroup.kill",
	"cgroup.procs",	    NULL,
};

static void make_tree(const char *controllers)
{
	fake_file(OWN, "cgroup.controllers", controllers);
	fake_file(OWN, "cgroup.subtree_control", "");
	fake_file(OWN "/clove", "cgroup.subtree_control", "");
	fake_file(OWN "/clove/" INST, "cgroup.subtree_control", "");
	fake_files(AG, agent_files);
	fake_file(AG, "cgroup.events", "populated 0\nfrozen 0\n");
}

static struct cgroup_manager *make_manager(void)
{
	struct cgroup_config cfg = {
		.root = fake_root,
		.instance = INST,
		.layout = CGROUP_LAYOUT_V2,
		.self_cgroup = "0::/" OWN "\n",
	};
	struct cgroup_manager *m = NULL;
	char err[256] = "";

	assert_int_equal(cgroup_manager_new(&cfg, &m, err, sizeof(err)), 0);
	assert_non_null(m);
	return m;
}

static struct cgroup_limits some_limits(void)
{
	struct cgroup_limits lim = CGROUP_LIMITS_NONE;

	lim.memory = 64 << 20;
	lim.cpu_quota = 20000;
	lim.cpu_period = 100000;
	lim.cpu_shares = 512;
	lim.pids = 16;
	return lim;
}

static int setup(void **state)
{
	fake_init();
	return 0;
}

static int teardown(void **state)
{
	fake_done();
	return 0;
}

static void test_enables_controllers_down_the_tree(void **state)
{
	struct cgroup_manager *m;

	make_tree("cpuset cpu io memory hugetlb pids rdma");
	m = make_manager();
	assert_int_equal(cgroup_manager_layout(m), CGROUP_LAYOUT_V2);
	/* The original's mistake: controllers never enabled for children. */
	assert_string_equal(fake_read(OWN, "cgroup.subtree_control"),
			    "+memory +cpu +pids");
	assert_string_equal(fake_read(OWN "/clove", "cgroup.subtree_control"),
			    "+memory +cpu +pids");
	assert_string_equal(
		fake_read(OWN "/clove/" INST, "cgroup.subtree_control"),
		"+memory +cpu +pids");
	assert_null(cgroup_manager_missing(m, CGROUP_MEMORY));
	assert_null(cgroup_manager_missing(m, CGROUP_CPU));
	assert_null(cgroup_manager_missing(m, CGROUP_PIDS));
	assert_true(cgroup_manager_can_freeze(m));
	assert_non_null(strstr(cgroup_manager_dir(m), OWN "/clove/" INST));
	assert_int_equal(cgroup_manager_free(m, 0), 0);
}

static void test_writes_limits_and_reads_them_back(void **state)
{
	struct cgroup_limits lim = some_limits();
	struct cgroup *cg = NULL;
	struct cgroup_manager *m;
	char err[256] = "", want[PATH_MAX];
	const int *fds;

	make_tree("cpu memory pids");
	m = make_manager();
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	assert_string_equal(fake_read(AG, "memory.max"), "67108864");
	assert_string_equal(fake_read(AG, "memory.swap.max"), "0");
	assert_string_equal(fake_read(AG, "memory.oom.group"), "1");
	assert_string_equal(fake_read(AG, "cpu.max"), "20000 100000");
	/* shares 512 on the OCI runtimes' linear scale. */
	assert_string_equal(fake_read(AG, "cpu.weight"), "20");
	assert_string_equal(fake_read(AG, "pids.max"), "16");

	const struct cgroup_limits *e = cgroup_enforced(cg);
	assert_int_equal(e->memory, 64 << 20);
	assert_int_equal(e->cpu_quota, 20000);
	assert_int_equal(e->cpu_period, 100000);
	assert_int_equal(e->cpu_shares, 512);
	assert_int_equal(e->cpu_weight, 20);
	assert_int_equal(e->pids, 16);

	assert_string_equal(cgroup_path(cg), "/" AG);
	assert_string_equal(cgroup_unified_dir(cg),
			    fake_path(AG, want, sizeof(want)));
	assert_true(cgroup_clone_fd(cg) >= 0);
	assert_int_equal(cgroup_attach_fds(cg, &fds), 0);
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_unlimited_is_written_as_max(void **state)
{
	struct cgroup_limits lim = CGROUP_LIMITS_NONE;
	struct cgroup *cg = NULL;
	struct cgroup_manager *m;
	char err[256];

	make_tree("cpu memory pids");
	m = make_manager();
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	assert_string_equal(fake_read(AG, "memory.max"), "max");
	assert_string_equal(fake_read(AG, "memory.swap.max"), "max");
	assert_string_equal(fake_read(AG, "cpu.max"), "max 100000");
	assert_string_equal(fake_read(AG, "cpu.weight"), "100");
	assert_string_equal(fake_read(AG, "pids.max"), "max");
	const struct cgroup_limits *e = cgroup_enforced(cg);
	assert_int_equal(e->memory, -1);
	assert_int_equal(e->cpu_quota, -1);
	assert_int_equal(e->cpu_shares, -1);
	assert_int_equal(e->pids, -1);
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_missing_controller_is_reported_not_claimed(void **state)
{
	struct cgroup_limits lim = some_limits();
	struct cgroup *cg = NULL;
	struct cgroup_manager *m;
	char err[256];

	make_tree("cpu io");
	m = make_manager();
	assert_string_equal(fake_read(OWN, "cgroup.subtree_control"), "+cpu");
	assert_non_null(cgroup_manager_missing(m, CGROUP_MEMORY));
	assert_non_null(strstr(cgroup_manager_missing(m, CGROUP_MEMORY),
			       "not delegated"));
	assert_non_null(cgroup_manager_missing(m, CGROUP_PIDS));
	assert_null(cgroup_manager_missing(m, CGROUP_CPU));
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	/* Never written, never claimed. */
	assert_string_equal(fake_read(AG, "memory.max"), "");
	assert_string_equal(fake_read(AG, "pids.max"), "");
	assert_int_equal(cgroup_enforced(cg)->memory, -1);
	assert_int_equal(cgroup_enforced(cg)->pids, -1);
	assert_int_equal(cgroup_enforced(cg)->cpu_quota, 20000);
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_reads_events_and_usage(void **state)
{
	struct cgroup_limits lim = some_limits();
	struct cgroup_counters c = { 0 };
	struct cgroup *cg = NULL;
	struct cgroup_manager *m;
	char err[256];

	make_tree("cpu memory pids");
	m = make_manager();
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	fake_file(AG, "memory.events",
		  "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n"
		  "oom_group_kill 1\n");
	fake_file(AG, "pids.events", "max 3\n");
	fake_file(AG, "cpu.stat",
		  "usage_usec 12345\nuser_usec 10000\nsystem_usec 2345\n");
	assert_int_equal(cgroup_counters(cg, &c), 0);
	assert_int_equal(c.oom_kills, 1);
	assert_int_equal(c.pids_max, 3);
	assert_int_equal(c.cpu_usage_us, 12345);
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_freeze_kill_and_removal(void **state)
{
	struct cgroup_limits lim = CGROUP_LIMITS_NONE;
	struct cgroup *cg = NULL;
	struct cgroup_manager *m;
	char err[256];
	const int *fds;

	make_tree("cpu memory pids");
	m = make_manager();
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	assert_int_equal(cgroup_freeze(cg, true), 0);
	assert_string_equal(fake_read(AG, "cgroup.freeze"), "1");
	fake_file(AG, "cgroup.events", "populated 1\nfrozen 0\n");
	assert_int_equal(cgroup_frozen(cg), 0);
	fake_file(AG, "cgroup.events", "populated 1\nfrozen 1\n");
	assert_int_equal(cgroup_frozen(cg), 1);

	assert_int_equal(cgroup_kill(cg), 0);
	assert_string_equal(fake_read(AG, "cgroup.kill"), "1");
	/* After cgroup.kill, children join through cgroup.procs. */
	assert_int_equal(cgroup_clone_fd(cg), -EBADF);
	assert_int_equal(cgroup_attach_fds(cg, &fds), 1);

	/* The fake directory is not empty, as a busy cgroup is not: the
	 * release leaves it pending, thawed. */
	cgroup_release(cg);
	assert_string_equal(fake_read(AG, "cgroup.freeze"), "0");
	assert_int_equal(cgroup_manager_pending(m), 1);
	assert_true(fake_exists(AG));
	fake_clear_files(AG, agent_files);
	assert_int_equal(cgroup_manager_free(m, 100), 0);
	assert_false(fake_exists(AG));
}

static void test_sweep_removes_leftovers(void **state)
{
	struct cgroup_manager *m;

	make_tree("cpu memory pids");
	fake_clear_files(AG, agent_files);
	fake_dir(OWN "/clove/" INST "/agent-7");
	fake_dir(OWN "/clove/" INST "/agent-7/nested");
	m = make_manager();
	assert_int_equal(cgroup_manager_sweep(m), 2);
	assert_false(fake_exists(AG));
	assert_false(fake_exists(OWN "/clove/" INST "/agent-7"));
	assert_int_equal(cgroup_manager_pending(m), 0);
	(void)cgroup_manager_free(m, 0);
}

static void test_parse_self(void **state)
{
	const char *text = "12:pids:/user.slice\n"
			   "4:cpu,cpuacct:/a/b\n"
			   "1:name=systemd:/init.scope\n"
			   "0::/system.slice/cloved.service\n";
	char buf[128];

	assert_int_equal(cgroup_parse_self(text, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/system.slice/cloved.service");
	assert_int_equal(cgroup_parse_self(text, "cpu", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a/b");
	assert_int_equal(cgroup_parse_self(text, "cpuacct", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/a/b");
	assert_int_equal(cgroup_parse_self(text, "pids", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/user.slice");
	assert_int_equal(cgroup_parse_self(text, "memory", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(cgroup_parse_self(text, "cpuset", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(
		cgroup_parse_self("4:memory:/x\n", NULL, buf, sizeof(buf)),
		-ENOENT);
	assert_int_equal(cgroup_parse_self(text, NULL, buf, 4), -ENAMETOOLONG);
}

static void test_parse_key(void **state)
{
	uint64_t v = 0;

	assert_int_equal(
		cgroup_parse_key("max 5\noom_kill 7\n", "oom_kill", &v), 0);
	assert_int_equal(v, 7);
	/* "oom" must not match "oom_kill". */
	assert_int_equal(cgroup_parse_key("oom_kill 7\n", "oom", &v), -ENOENT);
	assert_int_equal(cgroup_parse_key("frozen 1", "frozen", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cgroup_parse_key("frozen x", "frozen", &v), -EINVAL);
}

static void test_detect(void **state)
{
	enum cgroup_layout l = CGROUP_LAYOUT_V2;

	/* A plain directory is no cgroupfs. */
	assert_int_equal(cgroup_detect(fake_root, &l), 0);
	assert_int_equal(l, CGROUP_LAYOUT_NONE);
	/* Whatever this machine has, it is one of the four. */
	assert_int_equal(cgroup_detect("/sys/fs/cgroup", &l), 0);
	assert_true(l >= CGROUP_LAYOUT_NONE && l <= CGROUP_LAYOUT_V2);
	assert_string_equal(cgroup_layout_name(CGROUP_LAYOUT_HYBRID), "hybrid");
}

static void test_limits_check(void **state)
{
	const struct cgroup_machine mach = { .memory = 8ULL << 30,
					     .cpus = 2,
					     .pid_max = 32768 };
	struct cgroup_limits lim;
	char err[256];

	lim = some_limits();
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)), 0);
	lim = CGROUP_LIMITS_NONE;
	lim.memory = 1;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "memory"));
	lim.memory = 16LL << 30;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
	/* Only a quota: the period defaults to 100 ms. */
	lim = CGROUP_LIMITS_NONE;
	lim.cpu_quota = 50000;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)), 0);
	assert_int_equal(lim.cpu_period, 100000);
	lim.cpu_quota = 200001; /* more than 2 CPUs */
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
	lim.cpu_quota = 999;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
	lim = CGROUP_LIMITS_NONE;
	lim.cpu_period = 100000;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "cpu_quota"));
	lim = CGROUP_LIMITS_NONE;
	lim.cpu_shares = 1;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
	lim = CGROUP_LIMITS_NONE;
	lim.pids = 0;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
	lim.pids = 32769;
	assert_int_equal(cgroup_limits_check(&lim, &mach, err, sizeof(err)),
			 -EINVAL);
}

static void test_weights_and_names(void **state)
{
	char a[32], b[32], c[32];

	assert_int_equal(cgroup_shares_to_weight(2), 1);
	assert_int_equal(cgroup_shares_to_weight(262144), 10000);
	assert_int_equal(cgroup_shares_to_weight(1024), 39);
	cgroup_instance_name("/var/lib/clove", a, sizeof(a));
	cgroup_instance_name("/var/lib/clove", b, sizeof(b));
	cgroup_instance_name("/tmp/other", c, sizeof(c));
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_enables_controllers_down_the_tree, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_writes_limits_and_reads_them_back, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_unlimited_is_written_as_max, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_missing_controller_is_reported_not_claimed, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_reads_events_and_usage,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze_kill_and_removal,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_removes_leftovers,
						setup, teardown),
		cmocka_unit_test(test_parse_self),
		cmocka_unit_test(test_parse_key),
		cmocka_unit_test_setup_teardown(test_detect, setup, teardown),
		cmocka_unit_test(test_limits_check),
		cmocka_unit_test(test_weights_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
