/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's seccomp filter. It is built once with libseccomp when the
 * kernel starts and exported as a BPF program, so that installing it in a
 * new child is one system call and no allocation (the child runs between
 * clone3 and execve). Policy: everything is allowed except what a sandboxed
 * agent has no business doing — mounting, tracing other processes, loading
 * kernel code (modules, BPF, kexec), keyrings, namespaces, setting the
 * clock, io_uring (an agent does not need it and it bypasses the syscall
 * filter), and so on — which fails with EPERM. clone() with a namespace
 * flag fails with EPERM; clone3() fails with ENOSYS because its flags sit
 * in memory the filter cannot read, and glibc then falls back to clone().
 * Device nodes cannot be made, personality() cannot turn off ASLR or make
 * memory executable, TIOCSTI cannot inject terminal input, and any other
 * ABI (x32, i386) kills the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-internal.h"

/* Refused with EPERM, by name (names this architecture lacks are
 * skipped: nothing can call them). Grouped by what they reach. */
/* clang-format off */
static const char *const denied[] = {
	/* the filesystem tree */
	"mount", "umount2", "umount", "pivot_root", "chroot", "open_tree",
	"move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "open_tree_attr",
	/* namespaces */
	"setns", "unshare",
	/* other processes' memory and fds */
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
	"pidfd_getfd", "kcmp",
	/* kernel code and kernel introspection */
	"bpf", "perf_event_open", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "create_module",
	"get_kernel_syms", "query_module", "lookup_dcookie", "syslog",
	"uselib", "_sysctl", "sysfs", "ustat", "nfsservctl", "afs_syscall",
	/* keyrings */
	"keyctl", "add_key", "request_key",
	/* files by handle (they bypass path checks) */
	"open_by_handle_at", "name_to_handle_at",
	/* the machine */
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
	"settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex",
	"iopl", "ioperm", "vm86", "vm86old", "vhangup", "fanotify_init",
	/* a page-fault handler another process controls */
	"userfaultfd",
	/* io_uring runs operations the filter never sees */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
};
/* clang-format on */

static const unsigned long ns_flags[] = {
	CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* personality() flags that weaken the process (ASLR off, readable means
 * executable, page zero mapped, old address layouts). */
static const unsigned long unsafe_personality[] = {
	ADDR_NO_RANDOMIZE,  READ_IMPLIES_EXEC, MMAP_PAGE_ZERO,
	ADDR_COMPAT_LAYOUT, ADDR_LIMIT_3GB,    ADDR_LIMIT_32BIT,
};

/* Bit 31 is set only in the 0xffffffff query, which stays allowed: a
 * flag counts when it is set and bit 31 is not. */
#define PERSONALITY_QUERY_BIT 0x80000000ul

static void ctx_releasep(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}

static int add_denied(scmp_filter_ctx c, char *err, size_t errlen)
{
	for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		int r;

		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0) {
			snprintf(err, errlen, "seccomp rule for %s: %s",
				 denied[i], strerror(-r));
			return r;
		}
	}
	return 0;
}

static int add_masked(scmp_filter_ctx c, int nr, unsigned arg,
		      unsigned long mask, unsigned long value)
{
	struct scmp_arg_cmp cmp = {
		.arg = arg,
		.op = SCMP_CMP_MASKED_EQ,
		.datum_a = mask,
		.datum_b = value,
	};

	return seccomp_rule_add_array(c, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp);
}

static int add_conditional(scmp_filter_ctx c)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(ns_flags); i++)
		r = add_masked(c, SCMP_SYS(clone), 0, ns_flags[i], ns_flags[i]);
	if (r == 0)
		r = seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS),
				     SCMP_SYS(clone3), 0);
	/* Character and block devices; FIFOs, sockets and files are fine. */
	if (r == 0)
		r = add_masked(c, SCMP_SYS(mknod), 1, S_IFMT, S_IFCHR);
	if (r == 0)
		r = add_masked(c, SCMP_SYS(mknod), 1, S_IFMT, S_IFBLK);
	if (r == 0)
		r = add_masked(c, SCMP_SYS(mknodat), 2, S_IFMT, S_IFCHR);
	if (r == 0)
		r = add_masked(c, SCMP_SYS(mknodat), 2, S_IFMT, S_IFBLK);
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(unsafe_personality); i++)
		r = add_masked(c, SCMP_SYS(personality), 0,
			       unsafe_personality[i] | PERSONALITY_QUERY_BIT,
			       unsafe_personality[i]);
	if (r == 0)
		r = add_masked(c, SCMP_SYS(ioctl), 1, 0xffffffffu, TIOCSTI);
	if (r == 0)
		r = add_masked(c, SCMP_SYS(ioctl), 1, 0xffffffffu, TIOCLINUX);
	return r;
}

/* Exports c as BPF into a new buffer. */
static int export_filter(scmp_filter_ctx c, struct sandbox_context *ctx)
{
	_cleanup_close_ int fd = memfd_create("clove-seccomp", MFD_CLOEXEC);
	off_t size;
	int r;

	if (fd < 0)
		return negative_errno();
	r = seccomp_export_bpf(c, fd);
	if (r < 0)
		return r;
	size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return negative_errno();
	if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -EINVAL;
	ctx->filter = malloc((size_t)size);
	if (!ctx->filter)
		return -ENOMEM;
	if (pread(fd, ctx->filter, (size_t)size, 0) != size)
		return errno ? negative_errno() : -EIO;
	ctx->filter_len = (unsigned short)(size / sizeof(struct sock_filter));
	return 0;
}

int sandbox_seccomp_build(struct sandbox_context *ctx, char *err, size_t errlen)
{
	_cleanup_(ctx_releasep) scmp_filter_ctx c =
		seccomp_init(SCMP_ACT_ALLOW);
	int r;

	if (!c) {
		snprintf(err, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	r = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0) {
		snprintf(err, errlen, "seccomp attributes: %s", strerror(-r));
		return r;
	}
	r = add_denied(c, err, errlen);
	if (r < 0)
		return r;
	r = add_conditional(c);
	if (r < 0) {
		snprintf(err, errlen, "seccomp argument rules: %s",
			 strerror(-r));
		return r;
	}
	r = export_filter(c, ctx);
	if (r < 0)
		snprintf(err, errlen, "exporting the seccomp filter: %s",
			 strerror(-r));
	return r;
}

int sandbox_seccomp_apply(const struct sandbox_context *ctx)
{
	struct sock_fprog prog = {
		.len = ctx->filter_len,
		.filter = ctx->filter,
	};

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return negative_errno();
	return 0;
}
