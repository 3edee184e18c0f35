# SPDX-License-Identifier: MIT
"""The permission system against a real ``cloved`` (docs/permissions.md): the level table
(each level, each syscall, allowed or EACCES exactly as documented), path traversal attempts
(``..``, symlinks out, absolute paths, ``/proc/self/root``, a directory swapped for a symlink
while the agent reads), exec allowlist bypass attempts (``ls; cat /etc/shadow``, ``$(…)``,
quoting, a symlink or a PATH entry named like an allowed program, LD_PRELOAD), and escalation
attempts (SET_PERMS on oneself, a child asking for more than its parent, ``sandboxed: false``
from a restricted agent, GET_PERMS/SET_PERMS of agents that are not one's descendants) — the
original let an agent make itself unrestricted and checked nothing on SPAWN and KILL.

Every attempt is made by an agent script that performs the calls over its inherited
``CLOVE_FD`` and prints what it got; files it aims at are files this test created under its
temp directory, plus ``/etc/shadow``, which is only ever read (and must be refused).
"""

import json
import os
import subprocess
import sys
import threading

import pytest

import wire
from clove_harness import agent_source, log_text, wait_log, wait_report, wait_until
from clove_harness import spawn_agent as spawn

SLEEPER = """
ready()
sleep_forever()
"""

# Helpers every attempt script starts with: j() is one JSON call, code() its outcome in one
# word ("ok", or the error code).
HELPERS = """
def j(op, obj):
    return call_json(SOCK, op, obj)[1]

def code(r):
    if isinstance(r, list) or r.get("success"):
        return "ok"
    return r.get("code")

def child_script_path():
    # A sandboxed agent can only hand its children files it can see itself: the child's
    # script comes in CHILD_SRC and is written into this agent's work directory.
    path = os.path.abspath("child.py")
    with open(path, "w") as f:
        f.write(os.environ["CHILD_SRC"])
    return path

def wait_file(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit("no " + path)
        time.sleep(0.02)
"""


def attempt(kernel, agent_script, body, name, timeout=30, **fields):
    """Spawn an agent running HELPERS + body; return (spawn reply, its first report)."""
    r = spawn(kernel, agent_script, HELPERS + body, name, **fields)
    return r, wait_report(r["log_path"], timeout=timeout)[0]


def work_dir(kernel, agent_id):
    return os.path.join(kernel.state_dir, "agents", str(agent_id))


# ---------------------------------------------------------------------------------------------
# the level table

LEVEL_PROBE = """
child_script, outside = child_script_path(), sys.argv[2]
out = {}
out["hello"] = code(j(OP_HELLO, {}))
_, data = call(SOCK, OP_NOOP, b"ping")
out["noop"] = "ok" if data == b"ping" else data.decode()
out["async_poll"] = code(j(OP_ASYNC_POLL, {}))
gp = j(OP_GET_PERMS, {})
out["get_perms"], out["level"] = code(gp), gp.get("level")
out["read_workdir"] = code(j(OP_READ, {"path": "missing.txt"}))  # ENOENT: allowed, not there
out["write_workdir"] = code(j(OP_WRITE, {"path": "out.txt", "content": "x"}))
out["read_outside"] = code(j(OP_READ, {"path": outside}))
out["write_outside"] = code(j(OP_WRITE, {"path": outside + ".new", "content": "x"}))
out["exec_argv"] = code(j(OP_EXEC, {"argv": ["true"]}))
out["exec_shell"] = code(j(OP_EXEC, {"command": "true"}))
sp = j(OP_SPAWN, {"name": "kid-" + os.environ["CLOVE_AGENT_NAME"], "script": child_script,
                  "python": sys.executable})
out["spawn"] = code(sp)
out["spawn_level"] = sp.get("level")
out["kill_child"] = code(j(OP_KILL, {"id": sp["id"], "grace": 0})) if sp.get("success") else None
lst = j(OP_LIST, {})
out["list"] = code(lst)
out["list_ids"] = sorted(a["id"] for a in lst) if isinstance(lst, list) else None
out["kill_self_target_other"] = code(j(OP_PAUSE, {"id": int(sys.argv[3])}))
# An invalid THINK: the permission check comes first (EACCES), a permitted
# call is refused by validation (EINVAL) without needing a provider.
out["think"] = code(j(OP_THINK, {"prompt": "hi", "temperature": 99}))
out["http"] = code(j(OP_HTTP, {"url": "http://127.0.0.1/"}))
out["raise_self"] = code(j(OP_SET_PERMS, {"level": "unrestricted"}))
out["lower_self"] = code(j(OP_SET_PERMS, {"level": "minimal"}))
out["level_after"] = j(OP_GET_PERMS, {}).get("level")
report(**out)
"""

# HTTP to 127.0.0.1 is EACCES at every level: without can_http, and for unrestricted because
# its network "*" means public hosts only (loopback must be named: test_http.py).
ALWAYS = {"hello": "ok", "noop": "ok", "async_poll": "ok", "get_perms": "ok", "list": "ok",
          "kill_self_target_other": "EACCES", "http": "EACCES", "think": "EINVAL",
          "lower_self": "ok", "level_after": "minimal"}

# What docs/permissions.md promises, per level.
LEVEL_TABLE = {
    "unrestricted": dict(read_workdir="ENOENT", write_workdir="ok", read_outside="ok",
                         write_outside="ok", exec_argv="ok", exec_shell="ok", spawn="ok",
                         spawn_level="unrestricted", kill_child="ok", raise_self="ok"),
    "standard": dict(read_workdir="ENOENT", write_workdir="ok", read_outside="EACCES",
                     write_outside="EACCES", exec_argv="ok", exec_shell="ok", spawn="ok",
                     spawn_level="standard", kill_child="ok", raise_self="EACCES"),
    "sandboxed": dict(read_workdir="ENOENT", write_workdir="ok", read_outside="EACCES",
                      write_outside="EACCES", exec_argv="EACCES", exec_shell="EACCES",
                      spawn="EACCES", spawn_level=None, kill_child=None, raise_self="EACCES"),
    "readonly": dict(read_workdir="ENOENT", write_workdir="EACCES", read_outside="EACCES",
                     write_outside="EACCES", exec_argv="EACCES", exec_shell="EACCES",
                     spawn="EACCES", spawn_level=None, kill_child=None, raise_self="EACCES"),
    "minimal": dict(read_workdir="EACCES", write_workdir="EACCES", read_outside="EACCES",
                    write_outside="EACCES", exec_argv="EACCES", exec_shell="EACCES",
                    spawn="EACCES", spawn_level=None, kill_child=None, raise_self="EACCES"),
}


@pytest.mark.parametrize("level", list(LEVEL_TABLE))
def test_level_table(kernel, agent_script, tmp_path, level):
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    bystander = spawn(kernel, agent_script, SLEEPER, "bystander")
    child = agent_source("sys.exit(0)\n")
    r, rep = attempt(kernel, agent_script, LEVEL_PROBE, "probe-" + level,
                     args=[str(outside), str(bystander["id"])], permissions=level,
                     env={"CHILD_SRC": child})
    assert r["level"] == level
    assert r["permissions"]["can_read"] is (level != "minimal")
    expected = dict(ALWAYS, level=level, **LEVEL_TABLE[level])
    got = {k: rep[k] for k in expected}
    assert got == expected
    # Nothing of a refused write reached the disk.
    assert os.path.exists(str(outside) + ".new") is (level == "unrestricted")
    # LIST: unrestricted agents see everyone, the others themselves and their descendants.
    if level == "unrestricted":
        assert bystander["id"] in rep["list_ids"]
    else:
        assert bystander["id"] not in rep["list_ids"]
        assert r["id"] in rep["list_ids"]


def test_default_agent_level_is_standard(kernel, agent_script):
    body = """
gp = j(OP_GET_PERMS, {})
report(level=gp["level"], perms=gp["permissions"], work=gp["work_dir"], role=gp["role"])
"""
    r, rep = attempt(kernel, agent_script, body, "plain")
    assert r["level"] == "standard"
    assert rep["level"] == "standard"
    assert rep["role"] == "agent"
    assert os.path.realpath(rep["work"]) == os.path.realpath(work_dir(kernel, r["id"]))
    p = rep["perms"]
    assert p["can_exec"] and p["can_read"] and p["can_write"] and p["can_spawn"]
    assert p["can_http"] is False
    assert p["filesystem"]["read"] == [] and p["filesystem"]["write"] == []
    assert "/etc/shadow" in p["filesystem"]["blocked"]
    assert p["llm"] == {"max_tokens": None, "max_calls": None, "max_cost_usd": None}


def test_operator_get_and_set_perms(kernel, agent_script):
    own = kernel.request(wire.OP_GET_PERMS, {})
    assert own["success"] is True
    assert own["role"] == "operator" and own["agent_id"] is None
    assert own["level"] == "unrestricted"
    a = spawn(kernel, agent_script, SLEEPER, "target")
    g = kernel.request(wire.OP_GET_PERMS, {"agent_id": a["id"]})
    assert g["level"] == "standard" and g["agent_id"] == a["id"]
    s = kernel.request(wire.OP_SET_PERMS, {"agent_id": a["id"], "permissions": {
        "level": "standard", "can_http": True, "network": ["api.github.com"],
        "llm": {"max_calls": 50}}})
    assert s["success"] is True, s
    assert s["level"] == "custom"
    assert s["permissions"]["can_http"] is True
    assert s["permissions"]["network"] == ["api.github.com"]
    assert s["permissions"]["llm"]["max_calls"] == 50
    assert kernel.request(wire.OP_GET_PERMS, {"agent_id": a["id"]})["permissions"] == \
        s["permissions"]
    s = kernel.request(wire.OP_SET_PERMS, {"agent_id": a["id"], "level": "readonly"})
    assert s["level"] == "readonly"


@pytest.mark.parametrize("payload,code,needle", [
    ({"level": "readonly"}, "EINVAL", "agent_id"),
    ({"agent_id": 9999, "level": "readonly"}, "ENOENT", "9999"),
    ({"agent_id": "AID", "level": "root"}, "EINVAL", "unknown permission level 'root'"),
    ({"agent_id": "AID"}, "EINVAL", "exactly one of"),
    ({"agent_id": "AID", "level": "minimal", "permissions": "minimal"}, "EINVAL",
     "exactly one of"),
    ({"agent_id": "AID", "permissions": {"can_fly": True}}, "EINVAL",
     "permissions.can_fly"),
    ({"agent_id": "AID", "permissions": {"filesystem": {"read": ["relative/**"]}}}, "EINVAL",
     "permissions.filesystem.read[0]"),
])
def test_set_perms_errors_name_the_field(kernel, agent_script, payload, code, needle):
    a = spawn(kernel, agent_script, SLEEPER, "victim")
    payload = {k: (a["id"] if v == "AID" else v) for k, v in payload.items()}
    r = kernel.request(wire.OP_SET_PERMS, payload)
    assert r["success"] is False and r["code"] == code, r
    assert needle in r["error"], r


def test_spawn_permissions_errors_name_the_field(kernel, agent_script):
    script = agent_script(SLEEPER, name="s")
    r = kernel.request(wire.OP_SPAWN, {"script": script, "python": sys.executable,
                                       "permissions": {"exec": ["ls"]}})
    assert r["code"] == "EINVAL" and "permissions.exec[0]" in r["error"], r
    r = kernel.request(wire.OP_SPAWN, {"script": script, "python": sys.executable,
                                       "permissions": 7})
    assert r["code"] == "EINVAL" and "'permissions'" in r["error"], r


def test_policy_change_applies_to_the_next_call(kernel, agent_script):
    body = """
ready()
r1 = code(j(OP_WRITE, {"path": "a.txt", "content": "1"}))
print("STEP1", flush=True)
wait_file("go")
r2 = code(j(OP_WRITE, {"path": "b.txt", "content": "2"}))
r3 = code(j(OP_READ, {"path": "a.txt"}))
report(before=r1, after=r2, read_after=r3)
"""
    a = spawn(kernel, agent_script, HELPERS + body, "changing")
    wait_log(a["log_path"], "STEP1")
    assert kernel.request(wire.OP_SET_PERMS, {"agent_id": a["id"],
                                              "level": "readonly"})["success"]
    open(os.path.join(work_dir(kernel, a["id"]), "go"), "w").close()
    rep = wait_report(a["log_path"])[0]
    assert rep == {"before": "ok", "after": "EACCES", "read_after": "ok"}


def test_denials_have_the_error_shape_and_are_logged(kernel, agent_script):
    body = """
report(r=j(OP_READ, {"path": "/etc/shadow"}))
"""
    a, rep = attempt(kernel, agent_script, body, "shape")
    r = rep["r"]
    assert set(r) == {"success", "error", "code"}
    assert r["success"] is False and r["code"] == "EACCES"
    assert "/etc/shadow" in r["error"] and "blocked" in r["error"]
    wait_until(lambda: "denied READ for agent %d" % a["id"] in kernel.log(), 5, 0.05,
               "the denial in the kernel log")
    assert kernel.log().count("denied READ for agent %d" % a["id"]) == 1


# ---------------------------------------------------------------------------------------------
# path traversal

TRAVERSAL = """
secret_file, secret_dir, kernel_pid = sys.argv[2], sys.argv[3], int(sys.argv[4])
os.symlink(secret_file, "abs_link")
os.symlink(os.path.relpath(secret_file, os.getcwd()), "rel_link")
os.symlink(secret_dir, "dir_link")
os.symlink("/proc/self/root", "proc_root")
os.symlink("/etc/shadow", "shadow_link")
os.mkdir("sub")
j(OP_WRITE, {"path": "note.txt", "content": "mine"})
tries = {
    "dotdot": "../" * 40 + secret_file.lstrip("/"),
    "dotdot_rel": "sub/../../" + str(os.getpid()),
    "absolute": secret_file,
    "abs_link": "abs_link",
    "rel_link": "rel_link",
    "dir_link": "dir_link/x.txt",
    "proc_self_root": "/proc/self/root" + secret_file,
    "proc_kernel_root": "/proc/%d/root%s" % (kernel_pid, secret_file),
    "proc_root_link": "proc_root" + secret_file,
    "shadow": "/etc/shadow",
    "shadow_link": "shadow_link",
    "proc_self_environ": "/proc/self/environ",
}
out = {}
for k, path in tries.items():
    r = j(OP_READ, {"path": path})
    out[k] = code(r)
    out[k + "_leak"] = "SECRET" in r.get("content", "") or "root:" in r.get("content", "")
out["write_dir_link"] = code(j(OP_WRITE, {"path": "dir_link/new.txt", "content": "x"}))
out["write_abs_link"] = code(j(OP_WRITE, {"path": "abs_link", "content": "pwned"}))
out["write_dotdot"] = code(j(OP_WRITE, {"path": "../escaped.txt", "content": "x"}))
out["legit"] = j(OP_READ, {"path": "sub/../note.txt"}).get("content")
out["legit_abs"] = j(OP_READ, {"path": os.path.join(os.getcwd(), "note.txt")}).get("content")
report(**out)
"""


def test_path_traversal_is_refused(kernel, agent_script, tmp_path):
    secret_dir = tmp_path / "outside"
    secret_dir.mkdir()
    (secret_dir / "x.txt").write_text("SECRET")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    a, rep = attempt(kernel, agent_script, TRAVERSAL, "traveller",
                     args=[str(secret), str(secret_dir), str(kernel.pid)])
    for k in ("dotdot", "absolute", "abs_link", "rel_link", "dir_link", "proc_self_root",
              "proc_kernel_root", "proc_root_link", "shadow", "shadow_link",
              "proc_self_environ", "write_dir_link", "write_abs_link", "write_dotdot"):
        assert rep[k] == "EACCES", (k, rep[k])
        assert rep.get(k + "_leak") in (None, False), k
    assert rep["dotdot_rel"] == "EACCES"
    assert rep["legit"] == "mine" and rep["legit_abs"] == "mine"
    assert secret.read_text() == "SECRET"
    assert not (secret_dir / "new.txt").exists()
    assert not os.path.exists(os.path.join(kernel.state_dir, "agents", "escaped.txt"))


SWAPPER_READS = """
ready()
wait_file("go")
seen = {}
for i in range(400):
    r = j(OP_READ, {"path": "swap/x.txt"})
    key = r.get("content") if r.get("success") else r.get("code")
    seen[key] = seen.get(key, 0) + 1
report(seen=seen)
"""


@pytest.mark.timeout(120)
def test_symlink_swapped_during_reads_is_no_way_out(kernel, agent_script, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("SECRET")
    a = spawn(kernel, agent_script, HELPERS + SWAPPER_READS, "racer")
    wait_log(a["log_path"], "READY")
    work = work_dir(kernel, a["id"])
    real, moved, link = (os.path.join(work, n) for n in ("swap", "swap.real", "swap.link"))
    os.mkdir(real)
    with open(os.path.join(real, "x.txt"), "w") as f:
        f.write("inside")
    os.symlink(str(outside), link)
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            for src, dst in ((real, moved), (link, real), (real, link), (moved, real)):
                try:
                    os.rename(src, dst)
                except OSError:
                    pass

    t = threading.Thread(target=swap)
    t.start()
    try:
        open(os.path.join(work, "go"), "w").close()
        rep = wait_report(a["log_path"], timeout=90)[0]
    finally:
        stop.set()
        t.join()
    seen = rep["seen"]
    assert "SECRET" not in seen, seen
    assert set(seen) <= {"inside", "EACCES", "ENOENT"}, seen
    assert seen.get("inside", 0) > 0, seen


def test_no_symlinks_policy_refuses_even_inner_symlinks(kernel, agent_script):
    body = """
j(OP_WRITE, {"path": "real.txt", "content": "r"})
os.symlink("real.txt", "alias")
report(direct=code(j(OP_READ, {"path": "real.txt"})), alias=code(j(OP_READ, {"path": "alias"})))
"""
    _, rep = attempt(kernel, agent_script, body, "strict",
                     permissions={"level": "standard", "filesystem": {"no_symlinks": True}})
    assert rep == {"direct": "ok", "alias": "EACCES"}


def test_custom_read_paths_and_blocked(kernel, agent_script, tmp_path):
    shared = tmp_path / "shared"
    (shared / "private").mkdir(parents=True)
    (shared / "doc.txt").write_text("doc")
    (shared / "private" / "key").write_text("SECRET")
    body = """
shared = sys.argv[2]
report(doc=j(OP_READ, {"path": shared + "/doc.txt"}).get("content"),
       key=code(j(OP_READ, {"path": shared + "/private/key"})),
       write=code(j(OP_WRITE, {"path": shared + "/new.txt", "content": "x"})))
"""
    _, rep = attempt(kernel, agent_script, body, "reader", args=[str(shared)],
                     permissions={"level": "standard", "filesystem": {
                         "read": [str(shared) + "/**"],
                         "blocked": [str(shared) + "/private/**"]}})
    assert rep == {"doc": "doc", "key": "EACCES", "write": "EACCES"}
    assert not (shared / "new.txt").exists()


# ---------------------------------------------------------------------------------------------
# exec allowlist

EXEC_PROBE = """
work = os.getcwd()
os.symlink("/usr/bin/cat", "ls")
def run(**req):
    r = j(OP_EXEC, req)
    return {"code": code(r), "stdout": r.get("stdout", ""), "error": r.get("error", "")}
out = {
    "ls": run(argv=["ls", "/"]),
    "ls_abs": run(argv=["/usr/bin/ls", "/"]),
    "cat": run(argv=["cat", "/etc/hostname"]),
    "shell_chain": run(command="ls; cat /etc/shadow"),
    "shell_subst": run(command="$(cat /etc/shadow)"),
    "shell_quote": run(command="l's' /"),
    "argv_chain": run(argv=["ls; cat /etc/shadow"]),
    "argv_arg_chain": run(argv=["ls", "; cat /etc/shadow", "$(cat /etc/shadow)"]),
    "symlink_prog": run(argv=["./ls", "/etc/hostname"]),
    "path_prog": run(argv=["ls", "/etc/hostname"], env={"PATH": work}),
    "ld_preload": run(argv=["ls", "/"], env={"LD_PRELOAD": work + "/evil.so"}),
    "sh_argv": run(argv=["/bin/sh", "-c", "cat /etc/shadow"]),
}
report(**out)
"""


def test_exec_allowlist_cannot_be_bypassed(kernel, agent_script):
    _, rep = attempt(kernel, agent_script, EXEC_PROBE, "execer",
                     permissions={"level": "standard", "exec": ["/usr/bin/ls"]})
    assert rep["ls"]["code"] == "ok" and "etc" in rep["ls"]["stdout"].split()
    assert rep["ls_abs"]["code"] == "ok"
    for k in ("cat", "shell_chain", "shell_subst", "shell_quote", "symlink_prog", "path_prog",
              "ld_preload", "sh_argv"):
        assert rep[k]["code"] == "EACCES", (k, rep[k])
        assert "root:" not in rep[k]["stdout"], k
    assert "/bin/sh" in rep["shell_chain"]["error"]
    assert "LD_PRELOAD" in rep["ld_preload"]["error"]
    # The whole command line as one program name: no such program, nothing ran.
    assert rep["argv_chain"]["code"] == "ENOENT"
    # Metacharacters in argv are literal arguments of ls, never a second command.
    assert rep["argv_arg_chain"]["code"] == "ok"
    assert "root:" not in rep["argv_arg_chain"]["stdout"]


def test_allowing_the_shell_allows_the_whole_line(kernel, agent_script):
    body = """
r = j(OP_EXEC, {"command": "echo one; echo two"})
report(code=code(r), stdout=r.get("stdout"), cat=code(j(OP_EXEC, {"argv": ["cat", "x"]})))
"""
    _, rep = attempt(kernel, agent_script, body, "shelly",
                     permissions={"level": "standard", "exec": ["/bin/sh"]})
    assert rep == {"code": "ok", "stdout": "one\ntwo\n", "cat": "EACCES"}


# ---------------------------------------------------------------------------------------------
# escalation

ESCALATE_SELF = """
out = {}
out["to_unrestricted"] = j(OP_SET_PERMS, {"level": "unrestricted"})
out["add_http"] = j(OP_SET_PERMS, {"permissions": {"level": "standard", "can_http": True}})
out["add_paths"] = j(OP_SET_PERMS, {"permissions": {"level": "standard",
                                                    "filesystem": {"read": ["/etc/**"]}}})
out["drop_blocked"] = j(OP_SET_PERMS, {"permissions": {"level": "standard",
                                                       "filesystem": {"blocked": []}}})
out["level_now"] = j(OP_GET_PERMS, {})["level"]
out["lower"] = code(j(OP_SET_PERMS, {"level": "readonly"}))
out["write_after_lower"] = code(j(OP_WRITE, {"path": "x", "content": "x"}))
out["raise_back"] = code(j(OP_SET_PERMS, {"level": "standard"}))
report(**out)
"""


def test_nobody_can_raise_their_own_rights(kernel, agent_script):
    _, rep = attempt(kernel, agent_script, ESCALATE_SELF, "climber")
    for k, needle in (("to_unrestricted", "can_http"), ("add_http", "can_http"),
                      ("add_paths", "filesystem.read")):
        assert rep[k]["code"] == "EACCES", (k, rep[k])
        assert needle in rep[k]["error"] and "your own" in rep[k]["error"], rep[k]
    # Dropping the blocked list does not drop it: the setter's blocked paths are inherited
    # back, so the request is the old policy again, not an escalation.
    assert rep["drop_blocked"]["success"] is True
    assert "/etc/shadow" in rep["drop_blocked"]["permissions"]["filesystem"]["blocked"]
    assert rep["level_now"] == "standard"
    assert rep["lower"] == "ok"
    assert rep["write_after_lower"] == "EACCES"
    assert rep["raise_back"] == "EACCES"


ESCALATE_CHILD = """
import shutil
child_script, sibling = child_script_path(), int(sys.argv[2])
def sp(**extra):
    req = {"script": child_script, "python": sys.executable}
    req.update(extra)
    return j(OP_SPAWN, req)
out = {}
out["unrestricted"] = sp(permissions="unrestricted")
out["http"] = sp(permissions={"level": "standard", "can_http": True})
out["paths"] = sp(permissions={"level": "standard", "filesystem": {"write": ["/tmp/**"]}})
out["exec"] = sp(permissions={"level": "standard", "exec": ["/**"]})
out["unsandboxed"] = sp(sandboxed=False)
shutil.copy("/usr/bin/true", "mypython")
os.chmod("mypython", 0o755)
out["python"] = sp(python=os.path.abspath("mypython"))
kid = sp(name="kid", permissions="sandboxed")
out["kid"] = code(kid)
out["kid_level"] = kid.get("level")
out["get_kid"] = code(j(OP_GET_PERMS, {"agent_id": kid["id"]}))
out["set_kid_down"] = code(j(OP_SET_PERMS, {"agent_id": kid["id"], "level": "readonly"}))
out["set_kid_up"] = code(j(OP_SET_PERMS, {"agent_id": kid["id"], "level": "standard"}))
out["set_kid_beyond"] = j(OP_SET_PERMS, {"agent_id": kid["id"], "level": "unrestricted"})
out["get_sibling"] = j(OP_GET_PERMS, {"agent_id": sibling})
out["set_sibling"] = code(j(OP_SET_PERMS, {"agent_id": sibling, "level": "minimal"}))
out["kill_kid"] = code(j(OP_KILL, {"id": kid["id"], "grace": 0}))
report(**out)
"""


def test_a_child_never_exceeds_its_parent(kernel, agent_script):
    sibling = spawn(kernel, agent_script, SLEEPER, "sibling")
    a, rep = attempt(kernel, agent_script, ESCALATE_CHILD, "parent",
                     args=[str(sibling["id"])], env={"CHILD_SRC": agent_source(SLEEPER)})
    for k, needle in (("unrestricted", "can_http"), ("http", "permissions.can_http"),
                      ("paths", "permissions.filesystem.write: '/tmp/**'"),
                      ("exec", "permissions.exec: '/**'"),
                      ("unsandboxed", "sandboxed"), ("python", "field 'python'")):
        assert rep[k]["code"] == "EACCES", (k, rep[k])
        assert needle in rep[k]["error"], (k, rep[k])
    assert rep["kid"] == "ok" and rep["kid_level"] == "sandboxed"
    assert rep["get_kid"] == "ok"
    assert rep["set_kid_down"] == "ok"
    # A parent may give its child back up to its own rights, never more.
    assert rep["set_kid_up"] == "ok"
    assert rep["set_kid_beyond"]["code"] == "EACCES"
    assert rep["get_sibling"]["code"] == "EACCES"
    assert "ancestors" in rep["get_sibling"]["error"]
    assert rep["set_sibling"] == "EACCES"
    assert rep["kill_kid"] == "ok"
    assert kernel.request(wire.OP_GET_PERMS, {"agent_id": sibling["id"]})["level"] == "standard"


def test_child_cannot_change_its_parent(kernel, agent_script):
    child_body = """
parent = int(sys.argv[2])
report(get=code(j(OP_GET_PERMS, {"agent_id": parent})),
       set=code(j(OP_SET_PERMS, {"agent_id": parent, "level": "minimal"})))
"""
    child = agent_source(HELPERS + child_body)
    body = """
sp = j(OP_SPAWN, {"name": "kid", "script": child_script_path(), "python": sys.executable,
                  "args": [os.environ["CLOVE_AGENT_ID"]]})
report(spawn=code(sp), log=sp.get("log_path"))
sleep_forever()
"""
    a, rep = attempt(kernel, agent_script, body, "parent", env={"CHILD_SRC": child})
    assert rep["spawn"] == "ok"
    kid = wait_report(rep["log"])[0]
    assert kid == {"get": "EACCES", "set": "EACCES"}


def test_unrestricted_parent_may_run_an_unsandboxed_child(kernel, agent_script):
    child = agent_script(SLEEPER, name="free-kid")
    body = """
sp = j(OP_SPAWN, {"name": "freekid", "script": sys.argv[2], "python": sys.executable,
                  "sandboxed": False})
report(code=code(sp), sandboxed=sp.get("sandboxed"), level=sp.get("level"))
"""
    _, rep = attempt(kernel, agent_script, body, "boss", args=[child],
                     permissions="unrestricted")
    assert rep == {"code": "ok", "sandboxed": False, "level": "unrestricted"}


def test_child_inherits_its_parents_restrictions(kernel, agent_script, tmp_path):
    body = """
sp = j(OP_SPAWN, {"name": "heir", "script": child_script_path(), "python": sys.executable,
                  "permissions": "standard"})
report(code=code(sp), perms=sp.get("permissions"))
"""
    _, rep = attempt(kernel, agent_script, body, "strict-parent",
                     env={"CHILD_SRC": agent_source(SLEEPER)},
                     permissions={"level": "standard", "llm": {"max_calls": 5},
                                  "filesystem": {"no_symlinks": True,
                                                 "blocked": ["/srv/never/**"]}})
    assert rep["code"] == "ok"
    p = rep["perms"]
    assert p["llm"]["max_calls"] == 5
    assert p["filesystem"]["no_symlinks"] is True
    assert "/srv/never/**" in p["filesystem"]["blocked"]


# ---------------------------------------------------------------------------------------------
# operators


def test_operator_permissions_can_be_configured(make_kernel, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "f.txt").write_text("f")
    policy = {"level": "readonly", "filesystem": {"read": [str(data) + "/**"]}}
    k = make_kernel(extra_args=["--operator-permissions", json.dumps(policy)])
    assert k.request(wire.OP_GET_PERMS, {})["level"] == "custom"
    assert k.request(wire.OP_READ, {"path": str(data / "f.txt")})["content"] == "f"
    for op, obj in ((wire.OP_WRITE, {"path": str(data / "g.txt"), "content": "x"}),
                    (wire.OP_READ, {"path": str(tmp_path / "elsewhere")}),
                    (wire.OP_EXEC, {"argv": ["true"]}),
                    (wire.OP_SPAWN, {"script": str(data / "f.txt")})):
        r = k.request(op, obj)
        assert r["success"] is False and r["code"] == "EACCES", (op, r)
    assert not (data / "g.txt").exists()


def test_bad_operator_permissions_stop_cloved(cloved_path, tmp_path):
    out = subprocess.run([cloved_path, "--socket", str(tmp_path / "s.sock"),
                          "--state-dir", str(tmp_path / "state"),
                          "--operator-permissions", "godmode"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "unknown permission level 'godmode'" in out.stderr
    assert not os.path.exists(tmp_path / "s.sock")
