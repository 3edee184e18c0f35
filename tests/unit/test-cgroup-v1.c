/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the cgroup v1 backend against a fake cgroupfs in a temp
 * directory (fake-cgroupfs.h), as a legacy host (v1 only: memory, cpu,
 * pids, freezer) and as a hybrid one (v1 controllers + the v2 tree at
 * unified, which keeps identity, kill and freeze): memory.limit_in_bytes
 * with memory.memsw, cpu.cfs_quota_us / cpu.cfs_period_us / cpu.shares,
 * pids.max, the counters in memory.oom_control and pids.events, the
 * freezer, the kill (freeze, SIGKILL what cgroup.procs lists, thaw — tried
 * on a child of this test only), and the cgroup.procs fds a child joins by.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include "cgroup-internal.h"
#include "fake-cgroupfs.h"

#define INST "inst"
#define MEM  "memory/clove/" INST "/agent-1"
#define CPU  "cpu/clove/" INST "/agent-1"
#define PIDS "pids/clove/" INST "/agent-1"
#define FRZ  "freezer/clove/" INST "/agent-1"
#define UNI  "unified/clove/" INST "/agent-1"

static const char *const mem_files[] = {
	"memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
	"memory.oom_control",	 "memory.failcnt",
	"cgroup.procs",		 NULL,
};
static const char *const cpu_files[] = {
	"cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares",
	"cpuacct.usage",    "cgroup.procs",	 NULL,
};
static const char *const pids_files[] = { "pids.max", "pids.events",
					  "cgroup.procs", NULL };
static const char *const frz_files[] = { "freezer.state", "cgroup.procs",
					 NULL };
static const char *const uni_files[] = { "cgroup.kill",	  "cgroup.freeze",
					 "cgroup.events", "cgroup.procs",
					 "cpu.stat",	  NULL };

static const char self_legacy[] = "8:pids:/\n"
				  "6:freezer:/\n"
				  "4:memory:/\n"
				  "1:cpu,cpuacct:/\n";
static const char self_hybrid[] = "8:pids:/\n"
				  "4:memory:/\n"
				  "1:cpu,cpuacct:/\n"
				  "0::/\n";

static struct cgroup_manager *make_manager(enum cgroup_layout layout,
					   const char *self)
{
	struct cgroup_config cfg = {
		.root = fake_root,
		.instance = INST,
		.layout = layout,
		.self_cgroup = self,
	};
	struct cgroup_manager *m = NULL;
	char err[256] = "";

	assert_int_equal(cgroup_manager_new(&cfg, &m, err, sizeof(err)), 0);
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
	fake_files(MEM, mem_files);
	fake_files(CPU, cpu_files);
	fake_files(PIDS, pids_files);
	fake_files(FRZ, frz_files);
	return 0;
}

static int teardown(void **state)
{
	fake_done();
	return 0;
}

static void test_legacy_writes_limits(void **state)
{
	struct cgroup_limits lim = some_limits();
	struct cgroup *cg = NULL;
	struct cgroup_manager *m = make_manager(CGROUP_LAYOUT_V1, self_legacy);
	char err[256] = "", want[PATH_MAX];
	const int *fds;

	assert_int_equal(cgroup_manager_layout(m), CGROUP_LAYOUT_V1);
	assert_null(cgroup_manager_missing(m, CGROUP_MEMORY));
	assert_null(cgroup_manager_missing(m, CGROUP_CPU));
	assert_null(cgroup_manager_missing(m, CGROUP_PIDS));
	assert_true(cgroup_manager_can_freeze(m));
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	assert_string_equal(fake_read(MEM, "memory.limit_in_bytes"),
			    "67108864");
	/* RAM + swap at the same figure: no swapping around the limit. */
	assert_string_equal(fake_read(MEM, "memory.memsw.limit_in_bytes"),
			    "67108864");
	assert_string_equal(fake_read(CPU, "cpu.cfs_quota_us"), "20000");
	assert_string_equal(fake_read(CPU, "cpu.cfs_period_us"), "100000");
	assert_string_equal(fake_read(CPU, "cpu.shares"), "512");
	assert_string_equal(fake_read(PIDS, "pids.max"), "16");

	const struct cgroup_limits *e = cgroup_enforced(cg);
	assert_int_equal(e->memory, 64 << 20);
	assert_int_equal(e->cpu_quota, 20000);
	assert_int_equal(e->cpu_period, 100000);
	assert_int_equal(e->cpu_shares, 512);
	assert_int_equal(e->pids, 16);
	assert_int_equal(e->cpu_weight, -1);

	/* No v2 tree: no clone target; the child joins all four. */
	assert_int_equal(cgroup_clone_fd(cg), -EBADF);
	assert_null(cgroup_path(cg));
	assert_int_equal(cgroup_attach_fds(cg, &fds), 4);
	assert_string_equal(cgroup_v1_dir(cg, CGROUP_MEMORY),
			    fake_path(MEM, want, sizeof(want)));
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_legacy_unlimited(void **state)
{
	struct cgroup_limits lim = CGROUP_LIMITS_NONE;
	struct cgroup *cg = NULL;
	struct cgroup_manager *m = make_manager(CGROUP_LAYOUT_V1, self_legacy);
	char err[256];

	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	assert_string_equal(fake_read(MEM, "memory.limit_in_bytes"), "-1");
	assert_string_equal(fake_read(CPU, "cpu.cfs_quota_us"), "-1");
	assert_string_equal(fake_read(CPU, "cpu.shares"), "1024");
	assert_string_equal(fake_read(PIDS, "pids.max"), "max");
	assert_int_equal(cgroup_enforced(cg)->memory, -1);
	assert_int_equal(cgroup_enforced(cg)->cpu_quota, -1);
	assert_int_equal(cgroup_enforced(cg)->cpu_shares, -1);
	assert_int_equal(cgroup_enforced(cg)->pids, -1);
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_legacy_counters_and_freezer(void **state)
{
	struct cgroup_limits lim = some_limits();
	struct cgroup_counters c = { 0 };
	struct cgroup *cg = NULL;
	struct cgroup_manager *m = make_manager(CGROUP_LAYOUT_V1, self_legacy);
	char err[256];

	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	fake_file(MEM, "memory.oom_control",
		  "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	fake_file(PIDS, "pids.events", "max 7\n");
	fake_file(CPU, "cpuacct.usage", "5000000\n");
	assert_int_equal(cgroup_counters(cg, &c), 0);
	assert_int_equal(c.oom_kills, 2);
	assert_int_equal(c.pids_max, 7);
	assert_int_equal(c.cpu_usage_us, 5000);

	assert_int_equal(cgroup_freeze(cg, true), 0);
	assert_string_equal(fake_read(FRZ, "freezer.state"), "FROZEN");
	assert_int_equal(cgroup_frozen(cg), 1);
	fake_file(FRZ, "freezer.state", "FREEZING\n");
	assert_int_equal(cgroup_frozen(cg), 0);
	fake_file(FRZ, "freezer.state", "");
	assert_int_equal(cgroup_freeze(cg, false), 0);
	assert_string_equal(fake_read(FRZ, "freezer.state"), "THAWED");
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_legacy_kill_hits_listed_processes(void **state)
{
	struct cgroup_limits lim = CGROUP_LIMITS_NONE;
	struct cgroup *cg = NULL;
	struct cgroup_manager *m = make_manager(CGROUP_LAYOUT_V1, self_legacy);
	char err[256], pidtext[32];
	int status = 0;
	pid_t child;

	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	/* Our own child is the only pid ever listed: harmless if it dies. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	snprintf(pidtext, sizeof(pidtext), "%d\n", (int)child);
	fake_file(FRZ, "cgroup.procs", pidtext);
	assert_int_equal(cgroup_kill(cg), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	/* Frozen for the kill, thawed after. */
	assert_string_equal(fake_read(FRZ, "freezer.state"), "THAWED");
	fake_file(FRZ, "cgroup.procs", "");
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_missing_hierarchy(void **state)
{
	struct cgroup_limits lim = some_limits();
	struct cgroup *cg = NULL;
	struct cgroup_manager *m;
	char err[256];

	fake_done();
	fake_init();
	fake_files(MEM, mem_files);
	m = make_manager(CGROUP_LAYOUT_V1, self_legacy);
	assert_null(cgroup_manager_missing(m, CGROUP_MEMORY));
	assert_non_null(strstr(cgroup_manager_missing(m, CGROUP_PIDS),
			       "no v1 pids hierarchy"));
	assert_false(cgroup_manager_can_freeze(m));
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	assert_int_equal(cgroup_enforced(cg)->pids, -1);
	assert_int_equal(cgroup_enforced(cg)->memory, 64 << 20);
	assert_int_equal(cgroup_freeze(cg, true), -EOPNOTSUPP);
	cgroup_release(cg);
	(void)cgroup_manager_free(m, 0);
}

static void test_hybrid_limits_in_v1_identity_in_v2(void **state)
{
	struct cgroup_limits lim = some_limits();
	struct cgroup *cg = NULL;
	struct cgroup_manager *m;
	char err[256] = "";
	const int *fds;

	fake_files(UNI, uni_files);
	fake_file(UNI, "cgroup.events", "populated 0\nfrozen 0\n");
	m = make_manager(CGROUP_LAYOUT_HYBRID, self_hybrid);
	assert_int_equal(cgroup_manager_layout(m), CGROUP_LAYOUT_HYBRID);
	assert_null(cgroup_manager_missing(m, CGROUP_MEMORY));
	assert_true(cgroup_manager_can_freeze(m));
	assert_int_equal(cgroup_new(m, "agent-1", &lim, &cg, err, sizeof(err)),
			 0);
	assert_string_equal(fake_read(MEM, "memory.limit_in_bytes"),
			    "67108864");
	assert_string_equal(fake_read(PIDS, "pids.max"), "16");
	/* The v1 freezer stays out of it: the v2 tree freezes. */
	assert_null(cgroup_v1_dir(cg, CGROUP_FREEZER));
	assert_string_equal(cgroup_path(cg), "/clove/" INST "/agent-1");
	assert_true(cgroup_clone_fd(cg) >= 0);
	assert_int_equal(cgroup_attach_fds(cg, &fds), 3);

	assert_int_equal(cgroup_freeze(cg, true), 0);
	assert_string_equal(fake_read(UNI, "cgroup.freeze"), "1");
	assert_string_equal(fake_read(FRZ, "freezer.state"), "");
	assert_int_equal(cgroup_kill(cg), 0);
	assert_string_equal(fake_read(UNI, "cgroup.kill"), "1");
	assert_int_equal(cgroup_clone_fd(cg), -EBADF);
	assert_int_equal(cgroup_attach_fds(cg, &fds), 4);

	fake_file(UNI, "cpu.stat", "usage_usec 777\n");
	fake_file(MEM, "memory.oom_control", "oom_kill 1\n");
	struct cgroup_counters c;
	assert_int_equal(cgroup_counters(cg, &c), 0);
	assert_int_equal(c.cpu_usage_us, 777);
	assert_int_equal(c.oom_kills, 1);

	/* Empty them, as cgroupfs would be once nothing runs: removed. */
	fake_clear_files(MEM, mem_files);
	fake_clear_files(CPU, cpu_files);
	fake_clear_files(PIDS, pids_files);
	fake_clear_files(UNI, uni_files);
	cgroup_release(cg);
	assert_int_equal(cgroup_manager_pending(m), 0);
	assert_false(fake_exists(MEM));
	assert_false(fake_exists(UNI));
	(void)cgroup_manager_free(m, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_legacy_writes_limits,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_unlimited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_legacy_counters_and_freezer, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_legacy_kill_hits_listed_processes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_missing_hierarchy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_hybrid_limits_in_v1_identity_in_v2, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
