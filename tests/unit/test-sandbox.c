/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the sandbox's parent side: the shared context, what an
 * agent's view holds (system entries, its work directory, /tmp, its
 * script, a Python virtual environment's prefix, base and .pth
 * directories), the rules for views planned for a sandboxed parent's
 * children (only what the parent sees, no symlink out of its work
 * directory, no . or ..), the clone flags, the isolation report and the
 * status record of PID 1. Nothing here makes a namespace or a mount: the
 * child side is covered by the integration suite.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox-internal.h"
#include "sandbox.h"

struct fixture {
	char dir[64];
	char state[128];
	char work[160];
	char script[160];
	struct sandbox_context *ctx;
};

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void mkdirs(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(buf, 0755);
		*p = '/';
	}
	(void)mkdir(buf, 0755);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/clove-test-sandbox.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->work, sizeof(f->work), "%s/agents/1", f->state);
	snprintf(f->script, sizeof(f->script), "%s/agent.py", f->dir);
	mkdirs(f->work);
	write_text(f->script, "pass\n");
	assert_int_equal(sandbox_context_new(f->state, &f->ctx), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	sandbox_context_free(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static const struct sandbox_mount *find(const struct sandbox_spec *s,
					const char *dst)
{
	for (size_t i = 0; i < s->nmounts; i++)
		if (strcmp(s->mounts[i].dst, dst) == 0)
			return &s->mounts[i];
	return NULL;
}

static struct sandbox_request request(const struct fixture *f,
				      const char *program)
{
	return (struct sandbox_request){
		.program = program,
		.script = f->script,
		.work_dir = f->work,
		.hostname = "agent",
		.tmp_size = 1 << 20,
		.discover = true,
	};
}

static void test_step_names(void **state)
{
	for (int s = SANDBOX_STEP_BASE; s < SANDBOX_STEP_MAX; s++)
		assert_non_null(sandbox_step_name(s));
	assert_null(sandbox_step_name(SANDBOX_STEP_MAX));
	assert_null(sandbox_step_name(3));
	assert_string_equal(sandbox_step_name(SANDBOX_STEP_BIND), "bind");
	assert_string_equal(sandbox_step_name(SANDBOX_STEP_PIVOT),
			    "pivot_root");
}

static void test_context(void **state)
{
	struct fixture *f = *state;
	char root[PATH_MAX];
	struct stat st;

	assert_null(sandbox_context_error(f->ctx));
	snprintf(root, sizeof(root), "%s/sandbox-root", f->state);
	assert_int_equal(stat(root, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(f->ctx->filter_len > 10);
	assert_int_equal(f->ctx->userns, geteuid() != 0);
	for (size_t i = 1; i < f->ctx->nsystem; i++)
		assert_true(strcmp(f->ctx->system[i - 1].dst,
				   f->ctx->system[i].dst) < 0);
}

static void test_plan_of_a_plain_program(void **state)
{
	struct fixture *f = *state;
	struct sandbox_request req = request(f, "/bin/true");
	struct sandbox_spec *s = NULL;
	const struct sandbox_mount *m;
	char err[256];

	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 0);
	m = find(s, "/usr");
	assert_non_null(m);
	assert_int_equal(m->kind, SANDBOX_MNT_BIND_RO);
	m = find(s, "/proc");
	assert_non_null(m);
	assert_int_equal(m->kind, SANDBOX_MNT_PROC);
	m = find(s, "/tmp");
	assert_non_null(m);
	assert_int_equal(m->kind, SANDBOX_MNT_TMPFS);
	assert_non_null(strstr(m->src, "size=1048576"));
	m = find(s, f->work);
	assert_non_null(m);
	assert_int_equal(m->kind, SANDBOX_MNT_BIND_RW);
	m = find(s, f->script);
	assert_non_null(m);
	assert_int_equal(m->kind, SANDBOX_MNT_BIND_RO);
	assert_false(m->dir);
	/* /bin/true is shown by /usr through /bin -> usr/bin: no bind. */
	assert_null(find(s, "/bin/true"));
	assert_null(find(s, "/etc/shadow"));
	assert_null(find(s, "/etc/resolv.conf"));
	for (size_t i = 1; i < s->nmounts; i++)
		assert_true(strcmp(s->mounts[i - 1].dst, s->mounts[i].dst) < 0);
	assert_int_equal(sandbox_clone_flags(s) & CLONE_NEWNET, CLONE_NEWNET);
	assert_int_equal(sandbox_clone_flags(s) & CLONE_NEWPID, CLONE_NEWPID);
	assert_int_equal(!!(sandbox_clone_flags(s) & CLONE_NEWUSER),
			 geteuid() != 0);
	sandbox_spec_free(s);
}

static void test_network_gets_resolver_files(void **state)
{
	struct fixture *f = *state;
	struct sandbox_request req = request(f, "/bin/true");
	struct sandbox_spec *s = NULL;
	char err[256];

	req.network = true;
	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 0);
	assert_int_equal(sandbox_clone_flags(s) & CLONE_NEWNET, 0);
	if (access("/etc/resolv.conf", F_OK) == 0)
		assert_non_null(find(s, "/etc/resolv.conf"));
	sandbox_spec_free(s);
}

static void test_missing_program_and_bad_paths(void **state)
{
	struct fixture *f = *state;
	struct sandbox_request req = request(f, "/nonexistent/python3");
	struct sandbox_spec *s = NULL;
	char err[256];

	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/python3"));
	req = request(f, "clove-no-such-program");
	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 -ENOENT);
	req = request(f, "/bin/true");
	req.script = "/tmp/../etc/shadow";
	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 -EINVAL);
	req.script = "relative.py";
	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 -EINVAL);
	assert_null(s);
}

/* venv/bin/python (a copy of /bin/true will do), pyvenv.cfg with a home,
 * and a .pth naming a directory outside the venv. */
static void make_venv(const struct fixture *f, char *python, size_t len)
{
	char path[PATH_MAX], text[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/venv/bin", f->dir);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/base/bin", f->dir);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/sdk/src", f->dir);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/venv/lib/python3.11/site-packages",
		 f->dir);
	mkdirs(path);
	snprintf(python, len, "%s/venv/bin/python", f->dir);
	assert_int_equal(symlink("/bin/true", python), 0);
	snprintf(path, sizeof(path), "%s/venv/pyvenv.cfg", f->dir);
	snprintf(text, sizeof(text), "home = %s/base/bin\nversion = 3.11\n",
		 f->dir);
	write_text(path, text);
	snprintf(path, sizeof(path),
		 "%s/venv/lib/python3.11/site-packages/editable.pth", f->dir);
	snprintf(text, sizeof(text),
		 "%s/sdk/src\nrelative/dir\nimport os\n/nonexistent/dir\n",
		 f->dir);
	write_text(path, text);
}

static void test_plan_of_a_venv(void **state)
{
	struct fixture *f = *state;
	char python[PATH_MAX], path[PATH_MAX], err[256];
	struct sandbox_request req;
	struct sandbox_spec *s = NULL;

	make_venv(f, python, sizeof(python));
	req = request(f, python);
	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 0);
	snprintf(path, sizeof(path), "%s/venv", f->dir);
	assert_non_null(find(s, path));
	snprintf(path, sizeof(path), "%s/base", f->dir);
	assert_non_null(find(s, path));
	snprintf(path, sizeof(path), "%s/sdk/src", f->dir);
	assert_non_null(find(s, path));
	assert_null(find(s, "/nonexistent/dir"));
	sandbox_spec_free(s);

	/* No search without discovery: only the program itself. */
	req.discover = false;
	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 0);
	snprintf(path, sizeof(path), "%s/sdk/src", f->dir);
	assert_null(find(s, path));
	assert_non_null(find(s, python));
	sandbox_spec_free(s);
}

static void test_children_get_only_what_their_parent_sees(void **state)
{
	struct fixture *f = *state;
	struct sandbox_request req = request(f, "/bin/true");
	struct sandbox_spec *parent = NULL, *child = NULL;
	char kid[PATH_MAX], link[PATH_MAX], work2[PATH_MAX], err[256];
	const struct sandbox_mount *m;

	assert_int_equal(
		sandbox_spec_new(f->ctx, &req, &parent, err, sizeof(err)), 0);
	snprintf(kid, sizeof(kid), "%s/kid.py", f->work);
	write_text(kid, "pass\n");
	snprintf(link, sizeof(link), "%s/link.py", f->work);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	snprintf(work2, sizeof(work2), "%s/agents/2", f->state);
	mkdirs(work2);

	req.parent = parent;
	req.work_dir = work2;
	req.script = kid;
	assert_int_equal(
		sandbox_spec_new(f->ctx, &req, &child, err, sizeof(err)), 0);
	m = find(child, kid);
	assert_non_null(m);
	/* Re-opened beneath the parent's work directory in the child. */
	assert_string_equal(m->beneath, f->work);
	assert_string_equal(m->src, "kid.py");
	sandbox_spec_free(child);

	req.script = link;
	assert_int_equal(
		sandbox_spec_new(f->ctx, &req, &child, err, sizeof(err)),
		-EACCES);
	req.script = "/etc/passwd"; /* the host's, not the parent's copy */
	assert_int_equal(
		sandbox_spec_new(f->ctx, &req, &child, err, sizeof(err)),
		-EACCES);
	req.script = f->script; /* the parent's own script: it sees it */
	assert_int_equal(
		sandbox_spec_new(f->ctx, &req, &child, err, sizeof(err)), 0);
	sandbox_spec_free(child);
	req.script = kid;
	req.program = "/etc/passwd";
	assert_int_equal(
		sandbox_spec_new(f->ctx, &req, &child, err, sizeof(err)),
		-EACCES);
	sandbox_spec_free(parent);
}

static void test_isolation_json(void **state)
{
	struct fixture *f = *state;
	struct sandbox_request req = request(f, "/bin/true");
	struct sandbox_spec *s = NULL;
	char err[256];
	json_t *j;

	assert_int_equal(sandbox_spec_new(f->ctx, &req, &s, err, sizeof(err)),
			 0);
	j = sandbox_isolation_json(s);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "sandboxed")));
	assert_true(json_is_true(json_object_get(j, "seccomp")));
	assert_int_equal(json_array_size(json_object_get(j, "capabilities")),
			 0);
	assert_int_equal(json_integer_value(json_object_get(j, "tmp_size")),
			 1 << 20);
	assert_int_equal(json_array_size(json_object_get(j, "namespaces")),
			 geteuid() != 0 ? 7 : 6);
	if (sandbox_landlock_abi(f->ctx) > 0)
		assert_null(sandbox_landlock_reason(s));
	else
		assert_non_null(sandbox_landlock_reason(s));
	json_decref(j);
	sandbox_spec_free(s);
}

static void test_status_record(void **state)
{
	struct sandbox_status st = { .magic = SANDBOX_STATUS_MAGIC,
				     .code = -1,
				     .signal = 15 };
	int fds[2], code = 7, sig = 7;

	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(sandbox_status_read(fds[0], &code, &sig), -ENOENT);
	assert_int_equal(write(fds[1], &st, sizeof(st)), sizeof(st));
	assert_int_equal(sandbox_status_read(fds[0], &code, &sig), 0);
	assert_int_equal(code, -1);
	assert_int_equal(sig, 15);
	st = (struct sandbox_status){ .magic = SANDBOX_STATUS_MAGIC,
				      .code = 3 };
	assert_int_equal(write(fds[1], &st, sizeof(st)), sizeof(st));
	assert_int_equal(sandbox_status_read(fds[0], &code, &sig), 0);
	assert_int_equal(code, 3);
	assert_int_equal(sig, 0);
	st.magic = 1;
	assert_int_equal(write(fds[1], &st, sizeof(st)), sizeof(st));
	assert_int_equal(sandbox_status_read(fds[0], &code, &sig), -ENOENT);
	assert_int_equal(sandbox_status_read(-1, &code, &sig), -ENOENT);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_names),
		cmocka_unit_test_setup_teardown(test_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_of_a_plain_program,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_network_gets_resolver_files, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_missing_program_and_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_of_a_venv, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_children_get_only_what_their_parent_sees, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_isolation_json, setup,
						teardown),
		cmocka_unit_test(test_status_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
