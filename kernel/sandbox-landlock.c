/* SPDX-License-Identifier: MIT */
/*
 * Landlock for sandboxed processes: a second, independent fence around the
 * filesystem view that sandbox-mount.c builds. The whole view may be read
 * and executed; only the work directory, /tmp and /dev/shm may be written;
 * the device nodes in /dev may be read, written and ioctl'd; nothing may be
 * created or written anywhere else — even where a mount turned out to be
 * writable, and in /proc (no writes to /proc/sys or /proc/sysrq-trigger,
 * whatever the mount flags). From ABI 6 on, the process can also neither
 * signal processes outside its domain nor reach abstract Unix sockets
 * outside it (those live in the network namespace an agent with network
 * access shares with the host). The running kernel's ABI is probed once;
 * the rights and the ruleset layout follow it, so the same binary works
 * from ABI 1 to the newest. The constants newer than the build machine's
 * headers are defined here from the kernel's UAPI.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-internal.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define SANDBOX_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SANDBOX_LL_SCOPE_SIGNAL	       (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a prefix. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define LL_READ                                                      \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | \
	 LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_DEVICES                                                      \
	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	 LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)
/* Everything but making device nodes. */
#define LL_WRITABLE(handled) \
	((handled) &         \
	 ~(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK))

int sandbox_landlock_probe(char *reason, size_t len)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);

	if (abi > 0)
		return (int)abi;
	if (errno == ENOSYS)
		snprintf(reason, len, "the kernel is built without Landlock");
	else if (errno == EOPNOTSUPP)
		snprintf(reason, len,
			 "Landlock is not enabled in this kernel (lsm= boot "
			 "parameter)");
	else
		snprintf(reason, len, "Landlock ABI probe failed: %s",
			 strerror(errno));
	return 0;
}

/* The filesystem rights the kernel's ABI knows. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = (1ULL << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

static int add_rule(int ruleset, const char *path, uint64_t access,
		    struct sandbox_fail *f)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access };
	int fd = open(path, O_PATH | O_CLOEXEC | O_DIRECTORY);
	int r = 0;

	if (fd < 0) {
		f->path = path;
		return negative_errno();
	}
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
		    &pb, 0) < 0) {
		r = negative_errno();
		f->path = path;
	}
	close(fd);
	return r;
}

static int create_ruleset(int abi, uint64_t handled)
{
	struct ll_ruleset_attr attr = { .handled_access_fs = handled };
	size_t size = sizeof(attr.handled_access_fs);

	if (abi >= 4)
		size += sizeof(attr.handled_access_net);
	if (abi >= 6) {
		size += sizeof(attr.scoped);
		attr.scoped = SANDBOX_LL_SCOPE_ABSTRACT_UNIX |
			      SANDBOX_LL_SCOPE_SIGNAL;
	}
	return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
}

int sandbox_landlock_apply(const struct sandbox_spec *s, struct sandbox_fail *f)
{
	int abi = s->ctx->landlock_abi;
	uint64_t handled = fs_rights(abi);
	const char *writable[] = { s->work_dir, "/tmp", "/dev/shm" };
	int ruleset, r;

	if (abi <= 0)
		return 0;
	f->step = SANDBOX_STEP_LANDLOCK;
	ruleset = create_ruleset(abi, handled);
	if (ruleset < 0)
		return negative_errno();
	r = add_rule(ruleset, "/", LL_READ & handled, f);
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(writable); i++)
		r = add_rule(ruleset, writable[i], LL_WRITABLE(handled), f);
	if (r == 0)
		r = add_rule(ruleset, "/dev", LL_DEVICES & handled, f);
	if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		r = negative_errno();
	close(ruleset);
	return r;
}
