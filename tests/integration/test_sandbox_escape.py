# SPDX-License-Identifier: MIT
"""The escape suite: a sandboxed agent tries every forbidden thing and reports the errno it got.

The prober below runs inside a real sandboxed agent (a Python script with ctypes, under the same
interpreter every agent uses) and tries, one after the other, to read host files outside its
view, write to its read-only binds, reach the network, mount, trace, load BPF, make namespaces,
raise its limits, keep capabilities, see or signal host processes, use inherited fds, write
/proc/sys, make device nodes and use the syscalls its seccomp filter denies. Each attempt is
written so that it would do no harm if the sandbox were broken and it succeeded: it acts on its
own child, its own files and directories, the hostname it already has, signal 0, arguments that
make the call fail anyway (a wrong reboot magic, a nonexistent path) or files opened without
writing a byte. The tests then assert that every attempt failed, and how.
"""

import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest

import wire
from clove_harness import Kernel, agent_source, descendants, wait_report, wait_until
from clove_harness import spawn_agent as spawn

# Results are {name: {"ok": bool, "errno": "EPERM" | None, ...}}.
PROBER = r'''
import ctypes, errno as E, resource, stat, struct

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ARGS = json.loads(sys.argv[2])
WORK = os.getcwd()
results = {}

def sc(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[a if isinstance(a, (bytes, type(None), ctypes.c_void_p,
                                                              ctypes.Array))
                                          else ctypes.c_long(a) for a in args])
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r

def attempt(name, fn):
    try:
        value = fn()
        results[name] = {"ok": True, "value": repr(value)[:200]}
    except OSError as e:
        results[name] = {"ok": False, "errno": E.errorcode.get(e.errno, str(e.errno)),
                         "msg": str(e)[:200]}
    except Exception as e:
        results[name] = {"ok": False, "errno": None, "error": repr(e)[:200]}

def in_child(fn):
    """Runs fn in a forked child (for attempts that would change the prober itself)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = {"ok": True, "value": repr(fn())[:200]}
        except OSError as e:
            out = {"ok": False, "errno": E.errorcode.get(e.errno, str(e.errno))}
        except Exception as e:
            out = {"ok": False, "errno": None, "error": repr(e)[:200]}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not data:
        raise RuntimeError("child ended with status %#x and no result" % status)
    out = json.loads(data)
    if not out["ok"] and out.get("errno"):
        raise OSError(getattr(E, out["errno"], 0), out["errno"])
    if not out["ok"]:
        raise RuntimeError(out.get("error"))
    return out["value"]

def read(path):
    with open(path, "rb") as f:
        return f.read(64)

def open_no_write(path, flags):
    fd = os.open(path, flags)
    os.close(fd)
    return "opened"

# -- the filesystem view --------------------------------------------------------------------
attempt("read_host_file", lambda: read(ARGS["secret"]))
attempt("read_etc_shadow", lambda: read("/etc/shadow"))
attempt("read_other_agent_workdir", lambda: read(ARGS["other"]))
attempt("list_other_agent_workdir", lambda: os.listdir(os.path.dirname(ARGS["other"])))
attempt("create_file_in_usr", lambda: open_no_write("/usr", os.O_TMPFILE | os.O_WRONLY))
attempt("open_usr_file_for_writing",
        lambda: open_no_write(os.path.realpath("/usr/lib/os-release"), os.O_WRONLY | os.O_APPEND))
attempt("open_own_script_for_writing",
        lambda: open_no_write(sys.argv[0], os.O_WRONLY | os.O_APPEND))
attempt("open_etc_passwd_for_writing", lambda: open_no_write("/etc/passwd", os.O_WRONLY | os.O_APPEND))
attempt("create_file_in_root", lambda: open_no_write("/", os.O_TMPFILE | os.O_WRONLY))
attempt("create_file_in_dev", lambda: open_no_write("/dev", os.O_TMPFILE | os.O_WRONLY))
def write_proc_sys():
    with open("/proc/sys/kernel/hostname", "w") as f:   # the name it has: no change either way
        f.write(socket.gethostname())
attempt("write_proc_sys_hostname", write_proc_sys)
attempt("write_proc_sysrq_trigger",
        lambda: open_no_write("/proc/sysrq-trigger", os.O_WRONLY))
attempt("read_proc_timer_list", lambda: read("/proc/timer_list") or None)

# -- the network ----------------------------------------------------------------------------
def tcp_loopback():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", ARGS["port"]))
    finally:
        s.close()
def udp_public():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # connect() of UDP sends nothing
    try:
        s.connect(("192.0.2.1", 9))
    finally:
        s.close()
attempt("connect_tcp_loopback", tcp_loopback)
attempt("connect_udp_public", udp_public)

# -- mounts and the root ----------------------------------------------------------------------
os.makedirs(os.path.join(WORK, "mnt"), exist_ok=True)
attempt("mount_tmpfs", lambda: sc(165, b"tmpfs", os.path.join(WORK, "mnt").encode(), b"tmpfs",
                                  0, None))
attempt("umount_workdir", lambda: sc(166, WORK.encode(), 2))          # not a mount point on a host
attempt("pivot_root", lambda: sc(155, b"/nonexistent-a", b"/nonexistent-b"))
attempt("chroot", lambda: sc(161, b"/nonexistent"))
attempt("open_tree", lambda: sc(428, -100, b"/nonexistent", 0))

# -- other processes, BPF, kernel code ------------------------------------------------------
def ptrace_own_child():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    try:
        return sc(101, 16, pid, 0, 0)                      # PTRACE_ATTACH
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
attempt("ptrace_attach_own_child", ptrace_own_child)
def vm_read_own_child():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    buf = ctypes.create_string_buffer(8)
    local = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 8)
    try:
        return sc(310, pid, local, 1, local, 1, 0)          # process_vm_readv
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
attempt("process_vm_readv_own_child", vm_read_own_child)
attempt("bpf_prog_load", lambda: sc(321, 5, None, 0))
attempt("perf_event_open", lambda: sc(298, None, 0, -1, -1, 0))
attempt("kexec_load", lambda: sc(246, 0, 0, None, 0xffffffff))
attempt("init_module", lambda: sc(175, None, 0, b""))
attempt("finit_module", lambda: sc(313, -1, b"", 0))
attempt("delete_module", lambda: sc(176, b"clove_no_such_module", 0))
attempt("keyctl", lambda: sc(250, 0, -3, 0))               # KEYCTL_GET_KEYRING_ID, session
attempt("add_key", lambda: sc(248, b"user", b"clove-test", b"x", 1, -2))
attempt("userfaultfd", lambda: sc(323, 0))
attempt("io_uring_setup", lambda: sc(425, 1, ctypes.create_string_buffer(120)))
attempt("open_by_handle_at", lambda: sc(304, -1, None, 0))
attempt("reboot_bad_magic", lambda: sc(169, 0, 0, 0, None))
attempt("swapon", lambda: sc(167, b"/nonexistent", 0))
attempt("acct", lambda: sc(163, b"/nonexistent"))
attempt("clock_settime_invalid", lambda: sc(227, 0, struct.pack("qq", -1, 0)))
attempt("adjtimex_read_only", lambda: sc(159, ctypes.create_string_buffer(208)))
attempt("iopl_0", lambda: sc(172, 0))
attempt("tiocsti_on_stdin", lambda: sc(16, 0, 0x5412, ctypes.create_string_buffer(b"x")))

# -- namespaces ---------------------------------------------------------------------------------
attempt("unshare_user", lambda: in_child(lambda: sc(272, 0x10000000)))
attempt("unshare_net", lambda: in_child(lambda: sc(272, 0x40000000)))
attempt("unshare_mount", lambda: in_child(lambda: sc(272, 0x00020000)))
def setns_own():
    fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
    try:
        return sc(308, fd, 0)
    finally:
        os.close(fd)
attempt("setns", setns_own)
def clone_newuser():
    r = sc(56, 0x10000000 | 17, 0, 0, 0, 0)               # CLONE_NEWUSER | SIGCHLD
    if r == 0:
        os._exit(0)
    os.waitpid(r, 0)
    return r
attempt("clone_newuser", lambda: in_child(clone_newuser))
attempt("clone3", lambda: in_child(lambda: sc(435, ctypes.create_string_buffer(88), 88)))
attempt("open_init_ns", lambda: open_no_write("/proc/1/ns/mnt", os.O_RDONLY))
def open_init_fds():
    # As uid 0 the agent may list the fd numbers of its init (proc makes a non-dumpable
    # process's entries root's), but not open what they are.
    opened = []
    for fd in os.listdir("/proc/1/fd"):
        opened.append(open_no_write("/proc/1/fd/" + fd, os.O_RDONLY))
    if not opened:
        raise OSError(E.ENOENT, "init has no fds")
    return opened
attempt("open_init_fds", open_init_fds)
attempt("write_init_status_pipe",
        lambda: [open_no_write("/proc/1/fd/" + fd, os.O_WRONLY) for fd in os.listdir("/proc/1/fd")])
attempt("read_init_memory", lambda: read("/proc/1/mem"))
attempt("read_init_environ", lambda: read("/proc/1/environ"))

# -- limits, capabilities, privileges -------------------------------------------------------
def raise_hard(res):
    soft, hard = resource.getrlimit(res)
    return sc(160, res, struct.pack("QQ", hard + 1, hard + 1))       # setrlimit
attempt("raise_rlimit_nofile", lambda: raise_hard(resource.RLIMIT_NOFILE))
attempt("raise_rlimit_core", lambda: raise_hard(resource.RLIMIT_CORE))
attempt("mknod_char_device",
        lambda: os.mknod(os.path.join(WORK, "null2"), stat.S_IFCHR | 0o600, os.makedev(1, 3)))
attempt("mknod_fifo_allowed", lambda: os.mkfifo(os.path.join(WORK, "fifo")))
attempt("sethostname_same", lambda: socket.sethostname(socket.gethostname()))
attempt("personality_no_aslr", lambda: in_child(lambda: sc(135, 0x0040000)))
attempt("personality_query", lambda: sc(135, 0xffffffff))
def x32_getpid():
    pid = os.fork()
    if pid == 0:
        libc.syscall(ctypes.c_long(0x40000000 | 39))
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}
x32 = {}
try:
    x32 = x32_getpid()
except Exception as e:
    x32 = {"error": repr(e)}
attempt("kill_host_pid", lambda: os.kill(ARGS["host_pid"], 0))

status = {}
with open("/proc/self/status") as f:
    for line in f:
        k, _, v = line.partition(":")
        status[k] = v.strip()
hdr = struct.pack("II", 0x20080522, 0)                    # _LINUX_CAPABILITY_VERSION_3, self
data = ctypes.create_string_buffer(24)
sc(125, hdr, data)                                          # capget
caps = struct.unpack("6I", data.raw)

procs = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        pass

report(results=results, x32=x32, status={k: status.get(k) for k in (
           "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")},
       capget=list(caps), pid=os.getpid(), procs=procs, fds=fds,
       hostname=socket.gethostname(), uid=os.getuid(),
       rlimit_nofile=list(resource.getrlimit(resource.RLIMIT_NOFILE)),
       rlimit_core=list(resource.getrlimit(resource.RLIMIT_CORE)),
       dev=sorted(os.listdir("/dev")), root=sorted(os.listdir("/")))
'''

# What a blocked attempt may fail with: seccomp's EPERM, or what the view or the missing
# capability gives (no such file, read-only, access denied).
SECCOMP = {"EPERM"}
VIEW = {"ENOENT", "EROFS", "EACCES"}
EXPECT = {
    "read_host_file": {"ENOENT"},
    "read_etc_shadow": {"ENOENT"},
    "read_other_agent_workdir": {"ENOENT"},
    "list_other_agent_workdir": {"ENOENT"},
    "create_file_in_usr": {"EROFS", "EACCES"},
    "open_usr_file_for_writing": {"EROFS", "EACCES"},
    "open_own_script_for_writing": {"EROFS", "EACCES"},
    "open_etc_passwd_for_writing": {"EROFS", "EACCES"},
    "create_file_in_root": {"EROFS", "EACCES"},
    "create_file_in_dev": {"EROFS", "EACCES"},
    "write_proc_sys_hostname": {"EROFS", "EACCES"},
    "write_proc_sysrq_trigger": VIEW,
    "read_proc_timer_list": None,  # masked: reads succeed but show nothing (checked below)
    "connect_tcp_loopback": {"ENETUNREACH"},
    "connect_udp_public": {"ENETUNREACH"},
    "mount_tmpfs": SECCOMP,
    "umount_workdir": SECCOMP,
    "pivot_root": SECCOMP,
    "chroot": SECCOMP,
    "open_tree": SECCOMP,
    "ptrace_attach_own_child": SECCOMP,
    "process_vm_readv_own_child": SECCOMP,
    "bpf_prog_load": SECCOMP,
    "perf_event_open": SECCOMP,
    "kexec_load": SECCOMP,
    "init_module": SECCOMP,
    "finit_module": SECCOMP,
    "delete_module": SECCOMP,
    "keyctl": SECCOMP,
    "add_key": SECCOMP,
    "userfaultfd": SECCOMP,
    "io_uring_setup": SECCOMP,
    "open_by_handle_at": SECCOMP,
    "reboot_bad_magic": SECCOMP,
    "swapon": SECCOMP,
    "acct": SECCOMP,
    "clock_settime_invalid": SECCOMP,
    "adjtimex_read_only": SECCOMP,
    "iopl_0": SECCOMP,
    "tiocsti_on_stdin": SECCOMP,
    "unshare_user": SECCOMP,
    "unshare_net": SECCOMP,
    "unshare_mount": SECCOMP,
    "setns": SECCOMP,
    "clone_newuser": SECCOMP,
    "clone3": {"ENOSYS"},
    "open_init_ns": {"EACCES", "EPERM"},
    "open_init_fds": {"EACCES", "EPERM"},
    "write_init_status_pipe": {"EACCES", "EPERM"},
    "read_init_memory": {"EACCES", "EPERM"},
    "read_init_environ": {"EACCES", "EPERM"},
    "raise_rlimit_nofile": {"EPERM"},
    "raise_rlimit_core": {"EPERM"},
    "mknod_char_device": SECCOMP,
    "sethostname_same": {"EPERM"},
    "personality_no_aslr": SECCOMP,
    "kill_host_pid": {"ESRCH"},
}
# Attempts that are allowed on purpose (and harmless): they show the filter is not a blanket.
ALLOWED = {"mknod_fifo_allowed", "personality_query"}


NOBODY = 65534


class UnprivilegedKernel(Kernel):
    """A cloved running as nobody: its sandboxes need a user namespace."""

    def argv(self, socket_path=None, state_dir=None):
        return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                "--", *super().argv(socket_path, state_dir)]


class Sandboxes:
    """A kernel, a place for agent scripts it can read, and a place for host files."""

    def __init__(self, kernel, scripts, mode):
        self.kernel = kernel
        self.scripts = Path(scripts)
        self.mode = mode

    def script(self, body, name="agent"):
        path = self.scripts / ("%s.py" % name)
        path.write_text(agent_source(body))
        path.chmod(0o644)
        return str(path)


@pytest.fixture(params=["root", "unprivileged"])
def sandboxes(request, cloved_path, tmp_path):
    if request.param == "root":
        if os.geteuid() != 0:
            pytest.skip("the root kernel case needs root")
        k = request.getfixturevalue("kernel")
        yield Sandboxes(k, tmp_path, "root")
        return
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("starting a kernel as nobody needs root and setpriv (util-linux)")
    # pytest's own temp dirs are root's only: nobody's kernel lives elsewhere.
    root = Path(tempfile.mkdtemp(prefix="clove-unpriv-", dir="/tmp"))
    os.chown(root, NOBODY, NOBODY)
    k = UnprivilegedKernel(cloved_path, root / "kernel")
    (root / "kernel").mkdir()
    os.chown(root / "kernel", NOBODY, NOBODY)
    try:
        k.start()
        yield Sandboxes(k, root, "unprivileged")
    finally:
        problems = k.shutdown()
        shutil.rmtree(root, ignore_errors=True)
        if problems:
            pytest.fail("kernel teardown: " + "; ".join(problems) + "\n" + k.log_tail(60),
                        pytrace=False)


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def run_prober(sb, name="prober", **fields):
    """Spawn the victim (writes a file in its work dir) and the prober; return its report."""
    secret = sb.scripts / "host-secret.txt"
    secret.write_text("the host's secret\n")
    secret.chmod(0o644)
    victim = spawn(sb.kernel, sb.script, """
with open("victim-secret.txt", "w") as f:
    f.write("victim's secret")
ready()
sleep_forever()
""", name + "-victim")
    wait_until(lambda: "READY" in open(victim["log_path"]).read(), 15, 0.05, "victim ready")
    other = os.path.join(sb.kernel.state_dir, "agents", str(victim["id"]), "victim-secret.txt")
    assert os.path.exists(other)
    lsn = listener()
    try:
        args = {"secret": str(secret), "other": other, "port": lsn.getsockname()[1],
                "host_pid": os.getpid()}
        r = spawn(sb.kernel, sb.script, PROBER, name, args=[json.dumps(args)], **fields)
        rep = wait_report(r["log_path"], timeout=60)[0]
    finally:
        lsn.close()
    return r, rep


def test_every_escape_attempt_fails(sandboxes):
    r, rep = run_prober(sandboxes)
    assert r["isolation"]["sandboxed"] is True
    res = rep["results"]
    missing = set(EXPECT) | ALLOWED
    assert not missing - set(res), "prober did not try %s" % sorted(missing - set(res))
    escaped = {k: v for k, v in res.items()
               if v["ok"] and k not in ALLOWED and EXPECT.get(k, ()) is not None}
    assert not escaped, "attempts that succeeded inside the sandbox: %r" % escaped
    wrong = {k: v for k, v in res.items()
             if k in EXPECT and EXPECT[k] is not None and v.get("errno") not in EXPECT[k]}
    assert not wrong, "attempts that failed for the wrong reason: %r" % wrong
    for k in ALLOWED:
        assert res[k]["ok"], (k, res[k])
    timer = res["read_proc_timer_list"]
    assert timer.get("value") == "None" or timer.get("errno") == "ENOENT", \
        "timer_list is not masked: %r" % timer
    # x32 system calls kill the process (seccomp's bad-architecture action).
    assert rep["x32"].get("signal") == 31, rep["x32"]
    assert rep["hostname"] == "prober"
    assert socket.gethostname() != "prober"


def test_no_capabilities_privileges_or_host_view(sandboxes):
    r, rep = run_prober(sandboxes)
    assert ("user" in r["isolation"]["namespaces"]) == (sandboxes.mode == "unprivileged")
    assert rep["uid"] == (0 if sandboxes.mode == "root" else NOBODY)
    st = rep["status"]
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[k], 16) == 0, "%s = %s" % (k, st[k])
    assert rep["capget"] == [0] * 6
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    # Its own PID namespace: it is pid 2 under its init, and sees only its own processes.
    assert rep["pid"] == 2
    assert rep["procs"][0] == 1 and len(rep["procs"]) <= 6, rep["procs"]
    assert all(p < 100 for p in rep["procs"]), rep["procs"]
    # Only stdio, its kernel socket and the fd listing /proc/self/fd.
    extra = {fd: t for fd, t in rep["fds"].items() if fd not in ("0", "1", "2", "3")}
    assert len(extra) <= 1 and all("fd" in t or t.startswith("/proc") for t in extra.values()), \
        rep["fds"]
    assert rep["rlimit_core"] == [0, 0]
    assert rep["rlimit_nofile"][1] <= 1024
    assert set(rep["dev"]) <= {"null", "zero", "full", "random", "urandom", "tty", "shm", "fd",
                               "stdin", "stdout", "stderr"}, rep["dev"]
    assert "home" not in rep["root"] and "root" not in rep["root"] and "var" not in rep["root"]


def test_isolation_report_names_what_is_in_force(kernel, agent_script):
    r = spawn(kernel, agent_script, "ready(); sleep_forever()", "iso")
    iso = r["isolation"]
    assert iso["sandboxed"] is True
    assert iso["seccomp"] is True and iso["no_new_privs"] is True
    assert iso["capabilities"] == []
    assert iso["root"] == "pivot_root tmpfs"
    assert set(iso["namespaces"]) >= {"pid", "mount", "uts", "ipc", "cgroup", "net"}
    assert ("user" in iso["namespaces"]) == (os.geteuid() != 0)
    assert iso["tmp_size"] == 64 << 20
    assert iso["network"] == "none"
    if iso["landlock"] is not False:
        assert iso["landlock"]["enforced"] is True and iso["landlock"]["abi"] >= 1
    else:
        assert "Landlock" in iso["reason"]
    listed = kernel.agent(r["id"])
    assert listed["isolation"]["namespaces"] == iso["namespaces"]
    plain = spawn(kernel, agent_script, "ready(); sleep_forever()", "plain", sandboxed=False)
    assert plain["isolation"]["sandboxed"] is False
    assert plain["isolation"]["namespaces"] == [] and plain["isolation"]["seccomp"] is False
    assert "sandboxed: false" in plain["isolation"]["reason"]


def agent_process(kernel, r):
    """Host pid of the agent's own process (below its PID 1), found by its script."""
    def find():
        for pid in descendants(r["pid"]):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if r["_script"].encode() in f.read():
                        return pid
            except OSError:
                pass
        return None
    return wait_until(find, 15, 0.05, "the agent's process")


def test_network_true_keeps_the_host_network(kernel, agent_script):
    r = spawn(kernel, agent_script, "ready(); sleep_forever()", "netted", network=True)
    assert "net" not in r["isolation"]["namespaces"]
    assert r["isolation"]["network"] == "host"
    pid = agent_process(kernel, r)
    assert os.readlink("/proc/%d/ns/net" % pid) == os.readlink("/proc/%d/ns/net" % kernel.pid)
    assert os.readlink("/proc/%d/ns/mnt" % pid) != os.readlink("/proc/%d/ns/mnt" % kernel.pid)


# ---------------------------------------------------------------------------------------------
# a sandboxed agent cannot give its children more than it has

NESTED = r'''
noop = os.path.abspath("noop.py")
with open(noop, "w") as f:
    f.write("pass\n")
os.symlink("/etc/passwd", os.path.abspath("link.py"))
secret = sys.argv[2]
out = {}
for label, req in [
    ("host_script", {"script": secret}),
    ("host_missing", {"script": secret + ".missing"}),
    ("etc_shadow", {"script": "/etc/shadow"}),
    ("host_program", {"script": noop, "python": secret}),
    ("symlink_out_of_workdir", {"script": os.path.abspath("link.py")}),
    ("dotdot", {"script": os.getcwd() + "/../" + os.path.basename(os.getcwd()) + "/noop.py"}),
    ("unsandboxed", {"script": noop, "sandboxed": False}),
    ("network", {"script": noop, "network": True}),
    ("allowed", {"script": noop}),
]:
    req.setdefault("python", sys.executable)
    req["name"] = "kid-" + label.replace("_", "-")
    out[label] = call_json(SOCK, OP_SPAWN, req)[1]
report(**out)
sleep_forever()
'''


def test_agent_cannot_widen_its_childrens_sandbox(kernel, agent_script, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("the host's secret\n")
    r = spawn(kernel, agent_script, NESTED, "parent", args=[str(secret)])
    rep = wait_report(r["log_path"], timeout=30)[0]
    if rep["allowed"].get("pid"):
        kernel.track(rep["allowed"]["pid"])
    codes = {k: (v.get("success"), v.get("code")) for k, v in rep.items()}
    assert codes == {
        "host_script": (False, "EACCES"),
        "host_missing": (False, "EACCES"),
        "etc_shadow": (False, "EACCES"),
        "host_program": (False, "EACCES"),
        "symlink_out_of_workdir": (False, "EACCES"),
        "dotdot": (False, "EINVAL"),
        "unsandboxed": (False, "EACCES"),
        "network": (False, "EACCES"),
        "allowed": (True, None),
    }, rep
    # The refusal does not tell whether a host file exists.
    assert "outside the spawning agent's view" in rep["host_script"]["error"]
    assert rep["host_missing"]["error"] == rep["host_script"]["error"].replace(
        str(secret), str(secret) + ".missing")
    assert rep["allowed"]["isolation"]["sandboxed"] is True


# ---------------------------------------------------------------------------------------------
# EXEC of a sandboxed agent runs in its sandbox

EXECUTOR = r'''
secret, other = sys.argv[2], sys.argv[3]
out = {}
for label, cmd in [
    ("uid", "id -u"),
    ("hostname", "hostname"),
    ("secret", "cat " + secret),
    ("other", "cat " + other),
    ("shadow", "cat /etc/shadow"),
    ("pids", "ls /proc | grep -c '^[0-9]'"),
    ("init", "cat /proc/1/comm"),
    ("usr", "touch /usr/clove-escape-test"),
    ("caps", "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"),
    ("cwd", "pwd"),
    ("workdir_write", "echo hi > from-exec.txt && cat from-exec.txt"),
]:
    out[label] = call_json(SOCK, OP_EXEC, {"command": cmd, "timeout": 20})[1]
report(**out)
sleep_forever()
'''


def test_exec_runs_inside_the_agents_sandbox(kernel, agent_script, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("the host's secret\n")
    victim = spawn(kernel, agent_script, "ready(); sleep_forever()", "victim")
    other = os.path.join(kernel.state_dir, "agents", str(victim["id"]))
    r = spawn(kernel, agent_script, EXECUTOR, "executor", args=[str(secret), other])
    rep = wait_report(r["log_path"], timeout=60)[0]
    for label, reply in rep.items():
        assert reply["success"] is True, (label, reply)
    assert rep["hostname"]["stdout"].strip() == "executor"
    assert rep["secret"]["exit_code"] != 0 and "No such file" in rep["secret"]["stderr"]
    assert rep["other"]["exit_code"] != 0
    assert rep["shadow"]["exit_code"] != 0
    assert int(rep["pids"]["stdout"]) <= 8, rep["pids"]
    assert rep["init"]["stdout"].strip() == "clove-init"
    assert rep["usr"]["exit_code"] != 0 and not os.path.exists("/usr/clove-escape-test")
    caps = dict(l.split(":\t") for l in rep["caps"]["stdout"].splitlines())
    assert int(caps["CapEff"], 16) == 0 and int(caps["CapBnd"], 16) == 0
    assert caps["NoNewPrivs"] == "1" and caps["Seccomp"] == "2"
    workdir = os.path.join(kernel.state_dir, "agents", str(r["id"]))
    assert rep["cwd"]["stdout"].strip() == workdir
    assert rep["workdir_write"]["stdout"] == "hi\n"
    assert open(os.path.join(workdir, "from-exec.txt")).read() == "hi\n"
    # An operator's EXEC still runs on the host.
    host = kernel.request(wire.OP_EXEC, {"command": "hostname"})
    assert host["stdout"].strip() == socket.gethostname()


# ---------------------------------------------------------------------------------------------
# /tmp, mounts, failures

TMP_FILLER = r'''
out = {}
for where in ("/tmp", "/dev/shm"):
    written, err = 0, None
    try:
        with open(where + "/fill", "wb") as f:
            while written < (64 << 20):
                f.write(b"x" * 65536)
                f.flush()
                written += 65536
    except OSError as e:
        err = e.errno
    out[where] = {"written": written, "errno": err}
report(**out)
'''


def test_tmp_fills_up_to_its_size_and_no_further(kernel, agent_script):
    size = 1 << 20
    r = spawn(kernel, agent_script, TMP_FILLER, "filler",
              limits={"tmp_size": size})
    assert r["isolation"]["tmp_size"] == size
    rep = wait_report(r["log_path"], timeout=30)[0]
    for where in ("/tmp", "/dev/shm"):
        assert rep[where]["errno"] == 28, rep  # ENOSPC
        assert size - 65536 <= rep[where]["written"] <= size, rep
    bad = kernel.request(wire.OP_SPAWN, {"script": r["_script"], "python": sys.executable,
                                         "limits": {"tmp_size": 1}})
    assert bad["success"] is False and bad["code"] == "EINVAL" and "tmp_size" in bad["error"]


def mounts_mentioning(*needles):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if any(n in line for n in needles)]


def test_sandboxes_leave_no_mounts_on_the_host(kernel, agent_script):
    needles = (str(kernel.root), "sandbox-root")
    assert mounts_mentioning(*needles) == []
    agents = [spawn(kernel, agent_script, "ready(); sleep_forever()", "m%d" % i) for i in range(3)]
    for a in agents:
        wait_until(lambda: "READY" in open(a["log_path"]).read(), 15, 0.05, "ready")
    assert mounts_mentioning(*needles) == [], "sandbox mounts are visible on the host"
    for a in agents:
        kernel.request(wire.OP_KILL, {"id": a["id"], "grace": 1})
    assert mounts_mentioning(*needles) == []


def test_a_failed_sandbox_step_names_the_step_and_the_path(kernel):
    # A script under the directory the sandbox's root is mounted on exists on the host but
    # is hidden in the child, so its bind fails.
    script = os.path.join(kernel.state_dir, "sandbox-root", "hidden.py")
    with open(script, "w") as f:
        f.write("pass\n")
    try:
        r = kernel.request(wire.OP_SPAWN, {"name": "hidden", "script": script,
                                           "python": sys.executable})
    finally:
        os.unlink(script)
    assert r["success"] is False, r
    assert r["code"] == "ENOENT"
    assert r["step"] == "bind"
    assert r["path"] == script
    assert r["error"] == "sandbox step bind failed on %s: No such file or directory" % script
    entry = kernel.agent("hidden")
    assert entry is None or entry["running"] is False
