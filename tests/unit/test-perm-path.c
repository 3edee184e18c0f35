/* SPDX-License-Identifier: MIT */
/*
 * The path resolver against a real temporary tree: legit paths open;
 * `..`, relative and absolute symlinks out of the allowed directory,
 * /proc/self/root, a symlink planted in an allowed root's own path, a
 * directory swapped for a symlink while opens run, and writes through a
 * symlink to a blocked file are all refused with the documented errno —
 * and a refused file is never truncated. Also the exec allowlist: the
 * program is matched by its canonical path, so a symlink or a PATH entry
 * cannot pass a disallowed binary off as an allowed one.
 *
 * Every file touched is under a fresh mkdtemp directory; /etc/shadow is
 * only ever asked for (and must be refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "perm-exec.h"
#include "perm-path.h"

/* The tree every test starts from (realpath of the mkdtemp directory). */
static char top[PATH_MAX];

static void put(const char *rel, const char *content)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	assert_int_equal(mkdir(p, 0700), 0);
}

static void link_to(const char *target, const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	assert_int_equal(symlink(target, p), 0);
}

static char *at(const char *rel)
{
	static char bufs[4][PATH_MAX * 2];
	static int n;
	char *b = bufs[n++ % 4];
	snprintf(b, sizeof(bufs[0]), "%s/%s", top, rel);
	return b;
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/clove-perm-path-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, top));
	dir("allowed");
	dir("allowed/sub");
	dir("outside");
	put("allowed/file.txt", "inside");
	put("allowed/sub/inner.txt", "inner");
	put("allowed/blocked.txt", "keep me");
	put("secret.txt", "SECRET");
	put("outside/x.txt", "SECRET");
	link_to("../secret.txt", "allowed/rel_out");
	link_to(at("secret.txt"), "allowed/abs_out");
	link_to("file.txt", "allowed/rel_in");
	link_to("../outside", "allowed/dir_out");
	link_to("/proc/self/root", "allowed/proc_root");
	link_to("blocked.txt", "allowed/to_blocked");
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	/* Only ever the directory setup() made; symlinks are removed, never
	 * followed (FTW_PHYS). */
	assert_non_null(strstr(top, "/clove-perm-path-"));
	assert_int_equal(nftw(top, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	return 0;
}

static struct perm_policy *policy(const char *extra)
{
	char text[PATH_MAX * 4];
	struct perm_policy *p = NULL;
	struct perm_why why;

	snprintf(
		text, sizeof(text),
		"{\"can_read\": true, \"can_write\": true, \"filesystem\": "
		"{\"read\": [\"%s/allowed/**\"], \"write\": [\"%s/allowed/**\"], "
		"\"blocked\": [\"%s/allowed/blocked.txt\"]%s}}",
		top, top, top, extra);
	json_t *v = json_loads(text, 0, NULL);
	assert_non_null(v);
	if (perm_policy_from_json(v, &p, &why) < 0)
		fail_msg("%s", why.msg);
	json_decref(v);
	return p;
}

/* Opens path for reading; returns -errno or the first bytes read. */
static int read_via(const struct perm_policy *p, const char *path,
		    const char *work, char *buf, size_t len)
{
	struct perm_why why = { "" };
	int fd = -1;
	int r = perm_path_open(p, PERM_ACCESS_READ, path, work, O_RDONLY, 0,
			       &fd, &why);
	if (r < 0) {
		if (r == -EACCES)
			assert_true(why.msg[0] != '\0');
		return r;
	}
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return 0;
}

static void legit_paths_open(void **state)
{
	struct perm_policy *p = policy("");
	char buf[64];

	assert_int_equal(
		read_via(p, at("allowed/file.txt"), NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "inside");
	assert_int_equal(read_via(p, at("allowed/sub/inner.txt"), NULL, buf,
				  sizeof(buf)),
			 0);
	assert_string_equal(buf, "inner");
	/* A symlink that stays inside and lands on an allowed file. */
	assert_int_equal(
		read_via(p, at("allowed/rel_in"), NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "inside");
	/* `..` that stays inside is fine once normalized. */
	assert_int_equal(read_via(p, at("allowed/sub/../file.txt"), NULL, buf,
				  sizeof(buf)),
			 0);
	/* Relative paths need a work directory. */
	assert_int_equal(read_via(p, "file.txt", NULL, buf, sizeof(buf)),
			 -EINVAL);
	perm_policy_free(p);
}

static void escapes_are_refused(void **state)
{
	struct perm_policy *p = policy("");
	char buf[64], path[PATH_MAX * 2];

	/* `..` out of the allowed directory. */
	assert_int_equal(read_via(p, at("allowed/../secret.txt"), NULL, buf,
				  sizeof(buf)),
			 -EACCES);
	/* Symlinks pointing out, relative and absolute, file and dir. */
	assert_int_equal(
		read_via(p, at("allowed/rel_out"), NULL, buf, sizeof(buf)),
		-EACCES);
	assert_int_equal(
		read_via(p, at("allowed/abs_out"), NULL, buf, sizeof(buf)),
		-EACCES);
	assert_int_equal(read_via(p, at("allowed/dir_out/x.txt"), NULL, buf,
				  sizeof(buf)),
			 -EACCES);
	/* Straight outside, and a host secret. */
	assert_int_equal(read_via(p, at("secret.txt"), NULL, buf, sizeof(buf)),
			 -EACCES);
	assert_int_equal(read_via(p, "/etc/shadow", NULL, buf, sizeof(buf)),
			 -EACCES);
	/* /proc/self/root, directly and through a planted symlink. */
	snprintf(path, sizeof(path), "/proc/self/root%s", at("secret.txt"));
	assert_int_equal(read_via(p, path, NULL, buf, sizeof(buf)), -EACCES);
	assert_int_equal(read_via(p, at("allowed/proc_root/etc/hostname"), NULL,
				  buf, sizeof(buf)),
			 -EACCES);
	snprintf(path, sizeof(path), "proc_root%s", at("secret.txt"));
	assert_int_equal(read_via(p, path, at("allowed"), buf, sizeof(buf)),
			 -EACCES);
	/* Blocked wins, also when reached through a symlink. */
	assert_int_equal(
		read_via(p, at("allowed/blocked.txt"), NULL, buf, sizeof(buf)),
		-EACCES);
	assert_int_equal(
		read_via(p, at("allowed/to_blocked"), NULL, buf, sizeof(buf)),
		-EACCES);
	perm_policy_free(p);
}

/* The kernel's own refusals, as the resolver sees them. */
static void openat2_errnos(void **state)
{
	struct open_how root_how, how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	perm_path_root_how(&root_how);
	int rootfd = perm_openat2(AT_FDCWD, at("allowed"), &root_how);
	assert_true(rootfd >= 0);

	assert_int_equal(perm_openat2(rootfd, "../secret.txt", &how), -EXDEV);
	assert_int_equal(perm_openat2(rootfd, "rel_out", &how), -EXDEV);
	assert_int_equal(perm_openat2(rootfd, "abs_out", &how), -EXDEV);
	assert_int_equal(perm_openat2(rootfd, "dir_out/x.txt", &how), -EXDEV);
	assert_int_equal(perm_openat2(rootfd, at("secret.txt"), &how), -EXDEV);
	int fd = perm_openat2(rootfd, "rel_in", &how);
	assert_true(fd >= 0);
	close(fd);
	how.resolve |= RESOLVE_NO_SYMLINKS;
	assert_int_equal(perm_openat2(rootfd, "rel_in", &how), -ELOOP);
	close(rootfd);

	/* Magic links are refused even without RESOLVE_BENEATH. */
	struct open_how magic = { .flags = O_RDONLY | O_CLOEXEC,
				  .resolve = RESOLVE_NO_MAGICLINKS };
	assert_int_equal(
		perm_openat2(AT_FDCWD, "/proc/self/root/etc/hostname", &magic),
		-ELOOP);
	/* The root itself is opened without following any symlink. */
	assert_int_equal(
		perm_openat2(AT_FDCWD, at("allowed/dir_out"), &root_how),
		-ELOOP);
}

static void no_symlinks_policy(void **state)
{
	struct perm_policy *p = policy(", \"no_symlinks\": true");
	char buf[64];

	assert_int_equal(
		read_via(p, at("allowed/file.txt"), NULL, buf, sizeof(buf)), 0);
	assert_int_equal(
		read_via(p, at("allowed/rel_in"), NULL, buf, sizeof(buf)),
		-EACCES);
	perm_policy_free(p);
}

static void root_with_planted_symlink(void **state)
{
	char buf[64];

	/* The policy names a directory that does not exist yet; a symlink
	 * put there later is not a way out. */
	struct perm_policy *p = NULL;
	struct perm_why why;
	char text[PATH_MAX * 4];
	snprintf(text, sizeof(text),
		 "{\"can_read\": true, \"filesystem\": {\"read\": "
		 "[\"%s/later/**\"]}}",
		 top);
	json_t *v = json_loads(text, 0, NULL);
	assert_int_equal(perm_policy_from_json(v, &p, &why), 0);
	json_decref(v);
	link_to("outside", "later");
	assert_int_equal(read_via(p, at("later/x.txt"), NULL, buf, sizeof(buf)),
			 -EACCES);
	perm_policy_free(p);
	unlink(at("later"));
}

static void refused_write_truncates_nothing(void **state)
{
	struct perm_policy *p = policy("");
	struct perm_why why;
	char buf[64];
	int fd = -1;

	assert_int_equal(perm_path_open(p, PERM_ACCESS_WRITE,
					at("allowed/to_blocked"), NULL,
					O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd,
					&why),
			 -EACCES);
	FILE *f = fopen(at("allowed/blocked.txt"), "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "keep me");

	/* A legit write truncates as asked. */
	put("allowed/t.txt", "long old content");
	assert_int_equal(
		perm_path_open(p, PERM_ACCESS_WRITE, at("allowed/t.txt"), NULL,
			       O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd, &why),
		0);
	assert_int_equal(write(fd, "new", 3), 3);
	close(fd);
	assert_int_equal(
		read_via(p, at("allowed/t.txt"), NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "new");
	/* Writes outside, and through an escaping symlink, create nothing. */
	assert_int_equal(perm_path_open(p, PERM_ACCESS_WRITE,
					at("allowed/dir_out/new.txt"), NULL,
					O_WRONLY | O_CREAT, 0644, &fd, &why),
			 -EACCES);
	assert_int_equal(access(at("outside/new.txt"), F_OK), -1);
	perm_policy_free(p);
}

static void work_dir_is_allowed(void **state)
{
	struct perm_policy *p = NULL;
	struct perm_why why;
	json_t *v = json_loads("{\"can_read\": true}", 0, NULL);
	char buf[64];

	assert_int_equal(perm_policy_from_json(v, &p, &why), 0);
	json_decref(v);
	assert_int_equal(
		read_via(p, "file.txt", at("allowed"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "inside");
	assert_int_equal(
		read_via(p, "../secret.txt", at("allowed"), buf, sizeof(buf)),
		-EACCES);
	assert_int_equal(
		read_via(p, "rel_out", at("allowed"), buf, sizeof(buf)),
		-EACCES);
	/* can_write false: no writes, not even in the work directory. */
	int fd;
	assert_int_equal(perm_path_open(p, PERM_ACCESS_WRITE, "n.txt",
					at("allowed"), O_WRONLY | O_CREAT, 0644,
					&fd, &why),
			 -EACCES);
	perm_policy_free(p);
}

static void unrestricted_opens_as_given(void **state)
{
	struct perm_policy *p = NULL;
	char buf[64];

	assert_int_equal(perm_policy_new_level(PERM_LEVEL_UNRESTRICTED, &p), 0);
	assert_int_equal(
		read_via(p, at("allowed/abs_out"), NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "SECRET");
	/* Magic links stay refused for everyone. */
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "/proc/self/root%s", at("secret.txt"));
	assert_int_equal(read_via(p, path, NULL, buf, sizeof(buf)), -ELOOP);
	perm_policy_free(p);
}

/* Swaps allowed/swap between a real directory and a symlink to outside/. */
static atomic_bool swapping;

static void *swapper(void *arg)
{
	char real[PATH_MAX * 2], moved[PATH_MAX * 2], link[PATH_MAX * 2];

	snprintf(real, sizeof(real), "%s/allowed/swap", top);
	snprintf(moved, sizeof(moved), "%s/allowed/swap.real", top);
	snprintf(link, sizeof(link), "%s/allowed/swap.link", top);
	while (atomic_load(&swapping)) {
		(void)rename(real, moved);
		(void)rename(link, real);
		(void)rename(real, link);
		(void)rename(moved, real);
	}
	return NULL;
}

static void swap_race_never_escapes(void **state)
{
	struct perm_policy *p = policy("");
	char buf[64];
	int ok = 0;
	pthread_t t;

	dir("allowed/swap");
	put("allowed/swap/x.txt", "inside");
	link_to("../outside", "allowed/swap.link");
	atomic_store(&swapping, true);
	assert_int_equal(pthread_create(&t, NULL, swapper, NULL), 0);
	for (int i = 0; i < 20000; i++) {
		int r = read_via(p, at("allowed/swap/x.txt"), NULL, buf,
				 sizeof(buf));
		if (r == 0) {
			assert_string_equal(buf, "inside");
			ok++;
		} else if (r != -EACCES && r != -ENOENT) {
			fail_msg("unexpected %d", r);
		}
	}
	atomic_store(&swapping, false);
	pthread_join(t, NULL);
	assert_true(ok > 0);
	perm_policy_free(p);
}

static void exec_allowlist(void **state)
{
	struct perm_policy *p = NULL;
	struct perm_why why;
	char prog[PATH_MAX], sh[PATH_MAX], cat[PATH_MAX], ls[PATH_MAX];
	json_t *v = json_loads("{\"can_exec\": true, \"exec\": [\"/bin/sh\", "
			       "\"/usr/bin/ls\"]}",
			       0, NULL);

	assert_int_equal(perm_policy_from_json(v, &p, &why), 0);
	json_decref(v);
	assert_non_null(realpath("/bin/sh", sh));
	assert_non_null(realpath("/usr/bin/cat", cat));
	assert_non_null(realpath("/usr/bin/ls", ls));

	assert_int_equal(perm_exec_check(p, "sh", "/usr/bin:/bin", "/", prog,
					 sizeof(prog), &why),
			 0);
	assert_string_equal(prog, sh);
	assert_int_equal(perm_exec_check(p, "/bin/sh", NULL, "/", prog,
					 sizeof(prog), &why),
			 0);
	assert_int_equal(perm_exec_check(p, "ls", "/usr/bin", "/", prog,
					 sizeof(prog), &why),
			 0);
	assert_string_equal(prog, ls);
	assert_int_equal(perm_exec_check(p, "cat", "/usr/bin", "/", prog,
					 sizeof(prog), &why),
			 -EACCES);
	assert_non_null(strstr(why.msg, cat));
	/* The old mistake: a command line is not a program name. */
	assert_int_equal(perm_exec_check(p, "ls; cat /etc/shadow", "/usr/bin",
					 "/", prog, sizeof(prog), &why),
			 -ENOENT);
	/* A symlink named like an allowed program, by path or via PATH. */
	dir("bin");
	link_to(cat, "bin/ls");
	assert_int_equal(perm_exec_check(p, "./bin/ls", NULL, top, prog,
					 sizeof(prog), &why),
			 -EACCES);
	assert_int_equal(perm_exec_check(p, "ls", at("bin"), "/", prog,
					 sizeof(prog), &why),
			 -EACCES);
	assert_int_equal(perm_exec_check(p, at("bin/ls"), NULL, "/", prog,
					 sizeof(prog), &why),
			 -EACCES);
	assert_int_equal(perm_exec_check(p, "no-such-program-x", "/usr/bin",
					 "/", prog, sizeof(prog), &why),
			 -ENOENT);
	/* Code loaded into an allowed program through the environment. */
	char *bad_env[] = { "PATH=/usr/bin", "LD_PRELOAD=/tmp/x.so", NULL };
	char *good_env[] = { "PATH=/usr/bin", "HOME=/", NULL };
	assert_int_equal(perm_exec_check_env(p, bad_env, &why), -EACCES);
	assert_non_null(strstr(why.msg, "LD_PRELOAD"));
	assert_int_equal(perm_exec_check_env(p, good_env, &why), 0);
	/* can_exec false refuses everything. */
	p->can_exec = false;
	assert_int_equal(perm_exec_check(p, "/bin/sh", NULL, "/", prog,
					 sizeof(prog), &why),
			 -EACCES);
	perm_policy_free(p);

	/* Everything allowed: nothing is looked up, argv[0] runs as given. */
	assert_int_equal(perm_policy_new_level(PERM_LEVEL_UNRESTRICTED, &p), 0);
	assert_int_equal(perm_exec_check(p, "whatever", NULL, "/", prog,
					 sizeof(prog), &why),
			 0);
	assert_string_equal(prog, "");
	assert_int_equal(perm_exec_check_env(p, bad_env, &why), 0);
	perm_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(legit_paths_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(escapes_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(openat2_errnos, setup,
						teardown),
		cmocka_unit_test_setup_teardown(no_symlinks_policy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(root_with_planted_symlink,
						setup, teardown),
		cmocka_unit_test_setup_teardown(refused_write_truncates_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(work_dir_is_allowed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unrestricted_opens_as_given,
						setup, teardown),
		cmocka_unit_test_setup_teardown(swap_race_never_escapes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(exec_allowlist, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
