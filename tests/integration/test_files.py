# SPDX-License-Identifier: MIT
"""READ and WRITE from an operator connection, on files under the test's temp directory:
text round trips, append mode, base64 for bytes that are not UTF-8, truncation by
``max_bytes`` and ``offset``, and the documented errors (ENOENT, EISDIR, EINVAL for a relative
path from an operator). Every file is checked on disk too, not only through the kernel.
"""

import base64
import os
import stat

import pytest

import wire


def write(kernel, **fields):
    return kernel.request(wire.OP_WRITE, fields)


def read(kernel, **fields):
    return kernel.request(wire.OP_READ, fields)


def test_write_then_read_round_trip(kernel, tmp_path):
    path = str(tmp_path / "hello.txt")
    text = "héllo wörld\nline two ✓\n"
    w = write(kernel, path=path, content=text)
    assert w["success"] is True
    assert w["bytes_written"] == len(text.encode())
    assert open(path, encoding="utf-8").read() == text
    r = read(kernel, path=path)
    assert r["success"] is True
    assert r["content"] == text
    assert r["encoding"] == "utf-8"
    assert r["size"] == len(text.encode())
    assert r["bytes_read"] == len(text.encode())
    assert r["truncated"] is False


def test_write_creates_file_with_mode_0644(kernel, tmp_path):
    path = tmp_path / "new.txt"
    assert write(kernel, path=str(path), content="x")["success"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_write_truncates_existing_file(kernel, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a much longer original content\n")
    assert write(kernel, path=str(path), content="short")["success"] is True
    assert path.read_text() == "short"


def test_write_append_mode_appends(kernel, tmp_path):
    path = tmp_path / "log.txt"
    assert write(kernel, path=str(path), content="one\n", mode="append")["success"] is True
    assert write(kernel, path=str(path), content="two\n", mode="append")["bytes_written"] == 4
    assert path.read_text() == "one\ntwo\n"
    assert write(kernel, path=str(path), content="three\n", mode="write")["success"] is True
    assert path.read_text() == "three\n"


def test_write_base64_stores_exact_bytes(kernel, tmp_path):
    path = tmp_path / "blob.bin"
    blob = bytes(range(256)) + b"\xff\xfe\x00"
    w = write(kernel, path=str(path), content=base64.b64encode(blob).decode(), encoding="base64")
    assert w["success"] is True
    assert w["bytes_written"] == len(blob)
    assert path.read_bytes() == blob


def test_read_binary_file_returns_base64(kernel, tmp_path):
    path = tmp_path / "bin"
    blob = b"\x00\x01\xff\xfe\xc3\x28" * 100
    path.write_bytes(blob)
    r = read(kernel, path=str(path))
    assert r["success"] is True
    assert r["encoding"] == "base64"
    assert base64.b64decode(r["content"]) == blob
    assert r["size"] == len(blob)


def test_read_empty_file(kernel, tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    r = read(kernel, path=str(path))
    assert (r["success"], r["content"], r["size"], r["truncated"]) == (True, "", 0, False)


def test_read_missing_file_is_enoent(kernel, tmp_path):
    r = read(kernel, path=str(tmp_path / "does-not-exist"))
    assert r["success"] is False
    assert r["code"] == "ENOENT"


def test_read_directory_is_eisdir(kernel, tmp_path):
    r = read(kernel, path=str(tmp_path))
    assert r["success"] is False
    assert r["code"] == "EISDIR"


@pytest.mark.parametrize("path", ["relative.txt", "./x", "../etc/passwd", ""])
def test_operator_relative_path_is_einval(kernel, tmp_path, path):
    r = read(kernel, path=path)
    assert r["success"] is False
    assert r["code"] == "EINVAL"
    w = write(kernel, path=path or "", content="nope")
    assert w["success"] is False
    assert w["code"] == "EINVAL"


def test_read_max_bytes_truncates(kernel, tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("0123456789" * 10)
    r = read(kernel, path=str(path), max_bytes=10)
    assert r["success"] is True
    assert r["content"] == "0123456789"
    assert r["bytes_read"] == 10
    assert r["size"] == 100
    assert r["truncated"] is True


def test_read_offset_and_max_bytes(kernel, tmp_path):
    path = tmp_path / "abc.txt"
    path.write_text("abcdefghij")
    r = read(kernel, path=str(path), offset=3, max_bytes=4)
    assert r["content"] == "defg"
    assert r["bytes_read"] == 4
    assert r["truncated"] is True
    r = read(kernel, path=str(path), offset=6)
    assert r["content"] == "ghij"
    assert r["truncated"] is False


def test_read_max_bytes_above_limit_is_einval(kernel, tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    r = read(kernel, path=str(path), max_bytes=(16 << 20) + 1)
    assert r["success"] is False
    assert r["code"] == "EINVAL"


def test_read_large_file_in_one_reply(kernel, tmp_path):
    path = tmp_path / "big.txt"
    data = "".join("%07d\n" % i for i in range(300000))  # 2.4 MB, above the request limit
    path.write_text(data)
    r = read(kernel, path=str(path))
    assert r["success"] is True
    assert r["size"] == len(data)
    assert r["content"] == data
    assert r["truncated"] is False


def test_write_into_missing_directory_is_enoent(kernel, tmp_path):
    w = write(kernel, path=str(tmp_path / "no" / "such" / "dir" / "f"), content="x")
    assert w["success"] is False
    assert w["code"] == "ENOENT"


def test_write_bad_base64_is_einval(kernel, tmp_path):
    w = write(kernel, path=str(tmp_path / "f"), content="!!!not base64!!!", encoding="base64")
    assert w["success"] is False
    assert w["code"] == "EINVAL"
    assert not (tmp_path / "f").exists() or (tmp_path / "f").read_bytes() == b""


def test_read_through_a_magic_link_is_refused(kernel, tmp_path):
    # /proc/<pid>/root is a magic link: openat2(RESOLVE_NO_MAGICLINKS) must refuse it.
    path = tmp_path / "secret.txt"
    path.write_text("secret")
    r = read(kernel, path="/proc/self/root" + str(path))
    assert r["success"] is False
    assert r["code"] == "ELOOP"


def test_read_through_an_ordinary_symlink_works(kernel, tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("via link")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert read(kernel, path=str(link))["content"] == "via link"


def test_text_full_of_control_bytes_is_sent_as_base64(module_kernel, tmp_path):
    # Valid UTF-8, but JSON escapes would make it 6x bigger than the file: base64 is smaller.
    p = tmp_path / "controls.bin"
    data = bytes([1, 2, 3, 4]) * 4096
    p.write_bytes(data)
    r = module_kernel.request(wire.OP_READ, {"path": str(p)})
    assert r["success"] is True, r
    assert r["encoding"] == "base64"
    assert base64.b64decode(r["content"]) == data


def test_a_maximal_read_of_control_bytes_fits_one_reply(module_kernel, tmp_path):
    p = tmp_path / "big-controls.bin"
    p.write_bytes(b"\x01" * (8 << 20))
    r = module_kernel.request(wire.OP_READ, {"path": str(p), "max_bytes": 8 << 20})
    assert r["success"] is True, {k: v for k, v in r.items() if k != "content"}
    assert r["encoding"] == "base64" and r["bytes_read"] == 8 << 20
