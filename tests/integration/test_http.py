# SPDX-License-Identifier: MIT
"""HTTP (0x50) against a real ``cloved`` and a local origin server on 127.0.0.1
(tests/fakes/http_origin.py, port 0, in a thread). The kernel's operators get a policy whose
``network`` names ``127.0.0.1`` explicitly — loopback is refused otherwise — so everything here
stays on this machine. What is checked:

- methods, request headers (both forms) and bodies reach the server; real status codes, headers
  (repeated ones joined, and in order in ``header_list``; folded lines continued) and bodies
  come back; binary bodies as base64; ``max_bytes`` truncates; more than 1,000 response header
  lines are EMSGSIZE, quickly and without holding up other connections;
- redirects are followed by the kernel hop by hop and counted, a redirect to a forbidden host is
  refused naming the hop (and never requested), 303 turns POST into GET, 307 keeps it, a
  redirect that would change the method to one outside ``http_methods`` is refused;
- URL-parsing bypass attempts (userinfo, ``#``/``?``, decimal/octal/hex IPv4, IPv6 and
  IPv4-mapped literals, ``127.0.0.1.nip.io``) and non-http schemes are refused; a name resolving
  to loopback (``localhost``) is refused unless the policy names it;
- a hanging server times out with ETIMEDOUT while other connections are served (the loop is
  not blocked), async HTTP works with ASYNC_POLL, a client that goes away stops its transfer,
  the per-caller limit answers EAGAIN, agents without ``can_http`` are refused.

The original faked status codes and built ``curl '<url>'`` shell lines; nothing of that here.
"""

import base64
import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

import wire
from clove_harness import Kernel, short_root, wait_report, wait_until
from hub_util import OP_GET_AUDIT_LOG, OP_RECORD_START, OP_RECORD_STATUS
from clove_harness import spawn_agent as spawn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from http_origin import Origin  # noqa: E402

LOCAL_POLICY = {"level": "unrestricted", "network": ["127.0.0.1"]}
PUBLIC_POLICY = {"level": "unrestricted", "network": ["*"], "http_methods": ["GET", "HEAD"]}


def start_kernel(cloved_path, root, policy):
    k = Kernel(cloved_path, root, extra_args=["--operator-permissions", json.dumps(policy)])
    k.start()
    return k


def stop_kernel(k):
    problems = k.shutdown()
    if problems:
        pytest.fail("kernel teardown: %s\n%s" % ("; ".join(problems), k.log_tail(60)),
                    pytrace=False)


@pytest.fixture(scope="module")
def hk(cloved_path, tmp_path_factory):
    """A kernel whose operators may reach 127.0.0.1 (and nothing else)."""
    k = start_kernel(cloved_path, short_root(tmp_path_factory.mktemp("http")) / "k", LOCAL_POLICY)
    yield k
    stop_kernel(k)


@pytest.fixture(scope="module")
def public_kernel(cloved_path, tmp_path_factory):
    """A kernel whose operators may reach any public host, with GET and HEAD only."""
    k = start_kernel(cloved_path, short_root(tmp_path_factory.mktemp("http")) / "p",
                     PUBLIC_POLICY)
    yield k
    stop_kernel(k)


@pytest.fixture
def origin():
    with Origin() as o:
        yield o


def http(kernel, **fields):
    return kernel.request(wire.OP_HTTP, fields)


def code(r):
    return "ok" if r.get("success") else r.get("code")


# ---------------------------------------------------------------------------------------------
# requests and responses


def test_hello_says_http(hk):
    assert hk.request(wire.OP_HELLO, {})["features"]["http"] is True


def test_get_returns_real_status_headers_and_body(hk, origin):
    r = http(hk, url=origin.url("/echo"))
    assert r["success"] is True, r
    assert r["status_code"] == 200
    assert r["headers"]["x-echo"] == "yes"
    assert r["headers"]["content-type"] == "application/json"
    assert ["X-Echo", "yes"] in r["header_list"]
    assert r["body_encoding"] == "utf-8"
    assert r["truncated"] is False
    assert r["redirects"] == 0
    assert r["url"] == origin.url("/echo")
    assert isinstance(r["elapsed_ms"], int) and r["elapsed_ms"] >= 0
    seen = json.loads(r["body"])
    assert seen["method"] == "GET" and seen["path"] == "/echo"
    assert len(origin.log) == 1


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
def test_methods_reach_the_server(hk, origin, method):
    r = http(hk, url=origin.url("/echo"), method=method.lower())
    assert r["success"] is True, r
    assert r["status_code"] == 200
    assert [e["method"] for e in origin.log] == [method]
    if method == "HEAD":
        assert r["body"] == ""
        assert r["headers"]["x-echo"] == "yes"
    else:
        assert json.loads(r["body"])["method"] == method


@pytest.mark.parametrize("form", ["object", "list"])
def test_request_headers_and_body_reach_the_server(hk, origin, form):
    headers = {"X-Token": "abc 123", "Content-Type": "application/json", "Accept": "text/x"}
    if form == "list":
        headers = ["%s: %s" % kv for kv in headers.items()]
    body = json.dumps({"hello": "wörld"})
    r = http(hk, url=origin.url("/echo"), method="PUT", headers=headers, body=body)
    assert r["status_code"] == 200, r
    got = origin.log[0]
    assert got["method"] == "PUT"
    assert got["headers"]["X-Token"] == "abc 123"
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["Accept"] == "text/x"
    assert got["body"] == body.encode()


def test_binary_request_body_with_body_base64(hk, origin):
    data = bytes(range(256)) * 3
    r = http(hk, url=origin.url("/echo"), method="POST",
             body_base64=base64.b64encode(data).decode())
    assert r["status_code"] == 200, r
    assert origin.log[0]["body"] == data
    # No invented form Content-Type for a body the caller did not label.
    assert "Content-Type" not in origin.log[0]["headers"]


@pytest.mark.parametrize("status", [200, 201, 204, 404, 500, 503])
def test_real_status_codes_are_success_true(hk, origin, status):
    r = http(hk, url=origin.url("/status/%d" % status))
    assert r["success"] is True, r
    assert r["status_code"] == status
    if status != 204:
        assert r["body"] == "status %d" % status


def test_binary_response_comes_back_as_base64(hk, origin):
    r = http(hk, url=origin.url("/binary"))
    assert r["body_encoding"] == "base64"
    assert base64.b64decode(r["body"]) == bytes(range(256))


def test_repeated_response_headers(hk, origin):
    r = http(hk, url=origin.url("/headers"))
    assert r["headers"]["x-multi"] == "one, two"
    assert r["headers"]["x-single"] == "only"
    cookies = [v for k, v in r["header_list"] if k.lower() == "set-cookie"]
    assert cookies == ["a=1", "b=2"]


def test_a_name_repeated_many_times_is_joined_in_order(hk, origin):
    r = http(hk, url=origin.url("/repeat/200"))
    assert r["success"] is True, r
    values = [str(i % 10) for i in range(200)]
    assert r["headers"]["x-a"] == ", ".join(values)
    assert [v for k, v in r["header_list"] if k == "X-A"] == values


def test_folded_lines_continue_the_value(hk, origin):
    r = http(hk, url=origin.url("/fold/200"))
    assert r["success"] is True, r
    value = " ".join(["start"] + [str(i % 10) for i in range(200)])
    assert r["headers"]["x-f"] == value
    assert ["X-F", value] in r["header_list"]
    # The line after the folded ones is a header of its own again.
    assert r["header_list"][-2:] == [["X-F", value], ["X-After", "1"]]


def test_header_lines_are_limited(hk, origin):
    # With Content-Length, 999 repeats are 1000 lines: the limit itself is fine, one more
    # is not; folded lines count too (1 + 1 + 998 + 1).
    r = http(hk, url=origin.url("/repeat/999"))
    assert r["success"] is True, r
    assert len(r["header_list"]) == 1000
    for route in ("/repeat/1000", "/fold/998"):
        r = http(hk, url=origin.url(route))
        assert code(r) == "EMSGSIZE", r
        assert "more than 1000 header lines" in r["error"], r["error"]


@pytest.mark.parametrize("route", ["/repeat/30000", "/fold/30000"])
def test_many_header_lines_fail_fast_without_blocking_the_kernel(hk, origin, route):
    # ~240 KiB of tiny lines, under the byte limit: joining them one at a time was
    # quadratic and held the loop for seconds (NOOPs on other connections waited).
    out = {}

    def call():
        c = hk.connect()
        t0 = time.monotonic()
        out["reply"] = wire.call_json(c, wire.OP_HTTP, {"url": origin.url(route),
                                                        "timeout": 60})[1]
        out["took"] = time.monotonic() - t0
        c.close()

    t = threading.Thread(target=call)
    t.start()
    other = hk.connect()
    worst = 0.0
    while t.is_alive():
        t0 = time.monotonic()
        assert wire.call(other, wire.OP_NOOP, b"ping")[1] == b"ping"
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.005)
    t.join()
    other.close()
    assert worst < 0.5, "a NOOP took %.2f s while the headers were handled" % worst
    assert out["took"] < 3, "the reply took %.2f s" % out["took"]
    assert code(out["reply"]) == "EMSGSIZE", out["reply"]
    assert "more than 1000 header lines" in out["reply"]["error"]


def test_max_bytes_truncates(hk, origin):
    r = http(hk, url=origin.url("/big/100000"), max_bytes=1000)
    assert r["success"] is True, r
    assert r["truncated"] is True
    assert r["body"] == "a" * 1000
    assert r["status_code"] == 200
    r = http(hk, url=origin.url("/big/1000"), max_bytes=1000)
    assert r["truncated"] is False and len(r["body"]) == 1000
    r = http(hk, url=origin.url("/big/10"), max_bytes=0)
    assert r["truncated"] is True and r["body"] == ""


# ---------------------------------------------------------------------------------------------
# redirects


def test_redirects_are_followed_and_counted(hk, origin):
    r = http(hk, url=origin.url("/redirect/3"))
    assert r["success"] is True, r
    assert r["status_code"] == 200 and r["body"] == "arrived"
    assert r["redirects"] == 3
    assert r["url"] == origin.url("/redirect/0")
    assert [e["path"] for e in origin.log] == ["/redirect/%d" % i for i in (3, 2, 1, 0)]


def test_redirects_not_followed_when_asked(hk, origin):
    r = http(hk, url=origin.url("/redirect/2"), follow_redirects=False)
    assert r["success"] is True
    assert r["status_code"] == 302
    assert r["redirects"] == 0
    assert r["redirect_url"] == origin.url("/redirect/1")
    assert len(origin.log) == 1


def test_too_many_redirects(hk, origin):
    assert http(hk, url=origin.url("/redirect/5"))["redirects"] == 5
    r = http(hk, url=origin.url("/redirect/6"))
    assert code(r) == "ELOOP", r
    assert len(origin.log) == 5 + 1 + 6


def test_303_turns_post_into_get_and_307_keeps_it(hk, origin):
    to = origin.url("/echo")
    r = http(hk, url=origin.url("/goto?code=303&to=" + to), method="POST", body="payload")
    assert json.loads(r["body"])["method"] == "GET"
    assert origin.log[-1]["body"] == b""
    r = http(hk, url=origin.url("/goto?code=307&to=" + to), method="POST", body="payload")
    assert json.loads(r["body"])["method"] == "POST"
    assert origin.log[-1]["body"] == b"payload"


def test_a_redirect_cannot_change_to_a_method_the_policy_refuses(make_kernel, origin):
    policy = {"level": "unrestricted", "network": ["127.0.0.1"], "http_methods": ["POST"]}
    k = make_kernel(extra_args=["--operator-permissions", json.dumps(policy)])
    to = origin.url("/echo")
    # 307 keeps POST: allowed, and followed.
    r = http(k, url=origin.url("/goto?code=307&to=" + to), method="POST", body="x")
    assert r.get("status_code") == 200, r
    assert json.loads(r["body"])["method"] == "POST"
    # 303 (and 302 for POST) would turn it into a GET, which the policy does not allow.
    for status in (303, 302):
        path = "/goto?code=%d&to=%s" % (status, to)
        del origin.log[:]
        r = http(k, url=origin.url(path), method="POST", body="x")
        assert code(r) == "EACCES", r
        assert "redirect 1" in r["error"] and "GET" in r["error"], r["error"]
        assert [e["path"] for e in origin.log] == [path]


@pytest.mark.parametrize("target", [
    "http://127.0.0.2:{port}/echo",
    "http://localhost:{port}/echo",
    "http://[::1]:{port}/echo",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/",
])
def test_redirect_to_a_forbidden_place_is_refused(hk, origin, target):
    to = target.format(port=origin.port)
    r = http(hk, url=origin.url("/goto?to=" + to))
    assert code(r) == "EACCES", r
    assert "redirect 1" in r["error"], r["error"]
    # Only the redirecting request ever reached a server.
    assert [e["path"] for e in origin.log] == ["/goto?to=" + to]


def test_credentials_are_not_sent_to_another_origin(hk, origin):
    with Origin() as other:
        # Same address, other port: another origin (the policy allows both).
        to = other.url("/echo")
        r = http(hk, url=origin.url("/goto?code=307&to=" + to),
                 headers={"Authorization": "Bearer s3cret", "X-Keep": "1"})
        assert r["status_code"] == 200, r
        assert origin.log[0]["headers"]["Authorization"] == "Bearer s3cret"
        assert "Authorization" not in other.log[0]["headers"]
        assert other.log[0]["headers"]["X-Keep"] == "1"


# ---------------------------------------------------------------------------------------------
# where requests may go


BYPASSES = [
    "http://allowed@127.0.0.2:{port}/echo",
    "http://127.0.0.1@127.0.0.2:{port}/echo",
    "http://127.0.0.1.nip.io:{port}/echo",
    "http://2130706434:{port}/echo",
    "http://0177.0.0.2:{port}/echo",
    "http://0x7f000002:{port}/echo",
    "http://0x7f.0.0.2:{port}/echo",
    "http://[::1]:{port}/echo",
    "http://[::ffff:127.0.0.2]:{port}/echo",
    "http://[::ffff:7f00:1]:{port}/echo",
    "http://127.0.0.2:{port}#@127.0.0.1/echo",
    "http://127.0.0.2:{port}?@127.0.0.1/echo",
    "http://127.0.0.2:{port}/#.127.0.0.1",
    "http://LOCALHOST:{port}/echo",
    "http://0.0.0.0:{port}/echo",
    "http://0:{port}/echo",
    "http://[::]:{port}/echo",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
]


@pytest.mark.parametrize("url", BYPASSES)
def test_url_bypass_attempts_are_refused(hk, origin, url):
    r = http(hk, url=url.format(port=origin.port), timeout=5)
    assert code(r) == "EACCES", r
    assert origin.log == []


@pytest.mark.parametrize("url", ["http://2130706433:{port}/echo", "http://0x7f.1:{port}/echo",
                                 "http://0177.0.0.1:{port}/echo"])
def test_other_spellings_of_the_allowed_address_are_that_address(hk, origin, url):
    r = http(hk, url=url.format(port=origin.port))
    assert r.get("status_code") == 200, r
    assert len(origin.log) == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/",
                                 "ftp://127.0.0.1/", "dict://127.0.0.1:11211/",
                                 "FILE:///etc/passwd", "ldap://127.0.0.1/"])
def test_non_http_schemes_are_refused(hk, url):
    r = http(hk, url=url)
    assert code(r) == "EACCES", r
    assert "only http and https" in r["error"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/echo", "http://2130706433:{port}/echo",
    "http://[::1]:{port}/echo", "http://[::ffff:127.0.0.1]:{port}/echo",
    "http://localhost:{port}/echo", "http://0.0.0.0:{port}/echo",
    "http://169.254.169.254/", "http://192.168.1.1/", "http://[fd00::1]/",
])
def test_any_public_host_policy_refuses_loopback_and_private(public_kernel, origin, url):
    r = http(public_kernel, url=url.format(port=origin.port), timeout=5)
    assert code(r) == "EACCES", r
    assert origin.log == []


def test_a_name_resolving_to_loopback_is_refused_after_dns(public_kernel, origin):
    # "*" lets the name through; the address it resolves to is what is refused.
    r = http(public_kernel, url=origin.url("/echo", host="localhost"))
    assert code(r) == "EACCES", r
    assert "resolves to" in r["error"] and "loopback" in r["error"], r["error"]
    assert origin.log == []


def test_loopback_names_need_the_address_named(make_kernel, origin):
    # Naming the host is not enough: only an address entry opens a non-public address
    # (else any wildcard parent could give a child the private network through a name).
    k = make_kernel(extra_args=["--operator-permissions",
                                json.dumps({"level": "unrestricted", "network": ["localhost"]})])
    r = http(k, url=origin.url("/echo", host="localhost"))
    assert code(r) == "EACCES", r
    assert "names that address" in r["error"]
    k2 = make_kernel(extra_args=["--operator-permissions", json.dumps(
        {"level": "unrestricted", "network": ["localhost", "127.0.0.1"]})])
    r = http(k2, url=origin.url("/echo", host="localhost"))
    assert r.get("status_code") == 200, r
    assert len(origin.log) == 1


def test_a_child_cannot_get_loopback_under_a_wildcard(public_kernel, agent_script):
    r = public_kernel.request(wire.OP_SPAWN, {
        "name": "esc", "script": agent_script("sleep_forever()"), "python": sys.executable,
        "permissions": {"level": "standard", "can_http": True, "http_methods": ["GET"],
                        "network": ["127.0.0.1"]}})
    assert code(r) == "EACCES", r
    assert "127.0.0.1" in r["error"]


def test_methods_outside_http_methods_are_refused(public_kernel):
    r = http(public_kernel, url="http://example.com/", method="POST")
    assert code(r) == "EACCES", r
    assert "POST" in r["error"]


def test_default_operators_cannot_reach_loopback_and_denials_are_audited(kernel):
    # Unrestricted operators have network "*": any public host, no loopback.
    r = http(kernel, url="http://127.0.0.9/")
    assert code(r) == "EACCES", r
    log = kernel.request(OP_GET_AUDIT_LOG, {"category": "SECURITY", "limit": 20})
    assert any("127.0.0.9" in json.dumps(e) for e in log["entries"]), log


# ---------------------------------------------------------------------------------------------
# errors, limits, the loop


@pytest.mark.parametrize("fields, needle", [
    ({}, "url"),
    ({"url": 5}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "http://127.0.0.1/", "method": "G T"}, "method"),
    ({"url": "http://127.0.0.1/", "method": ""}, "method"),
    ({"url": "http://127.0.0.1/", "headers": {"X-A": "b\r\nX-Injected: 1"}}, "line break"),
    ({"url": "http://127.0.0.1/", "headers": ["no colon"]}, "headers[0]"),
    ({"url": "http://127.0.0.1/", "headers": {"Bad Name": "x"}}, "header name"),
    ({"url": "http://127.0.0.1/", "headers": {"Host": "evil.com"}}, "Host"),
    ({"url": "http://127.0.0.1/", "headers": {"Content-Length": "5"}}, "Content-Length"),
    ({"url": "http://127.0.0.1/", "headers": "X-A: b"}, "headers"),
    ({"url": "http://127.0.0.1/", "timeout": 0}, "timeout"),
    ({"url": "http://127.0.0.1/", "timeout": 301}, "timeout"),
    ({"url": "http://127.0.0.1/", "max_bytes": 10 * 1024 * 1024 + 1}, "max_bytes"),
    ({"url": "http://127.0.0.1/", "body": "a", "body_base64": "YQ=="}, "body"),
    ({"url": "http://127.0.0.1/", "body_base64": "!!!"}, "body_base64"),
    ({"url": "http://127.0.0.1/", "follow_redirects": "yes"}, "follow_redirects"),
])
def test_bad_fields_are_einval(hk, fields, needle):
    r = http(hk, **fields)
    assert code(r) == "EINVAL", r
    assert needle in r["error"], r["error"]


def test_connection_refused(hk):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = http(hk, url="http://127.0.0.1:%d/" % port)
    assert code(r) == "ECONNREFUSED", r


def test_dns_failure(public_kernel):
    r = http(public_kernel, url="http://no-such-host.invalid/", timeout=20)
    assert code(r) == "ENXIO", r
    assert "resolve" in r["error"].lower()


def test_tls_certificate_errors_are_eproto(hk, tmp_path):
    import shutil
    import subprocess
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    with Origin(tls=(str(cert), str(key))) as tls:
        r = http(hk, url=tls.url("/echo"), timeout=10)
        assert code(r) == "EPROTO", r
        assert "TLS" in r["error"], r["error"]
        assert tls.log == []


def test_timeout_does_not_block_the_kernel(hk, origin):
    out = {}

    def slow():
        c = hk.connect()
        t0 = time.monotonic()
        out["reply"] = wire.call_json(c, wire.OP_HTTP, {"url": origin.url("/hang"),
                                                        "timeout": 2})[1]
        out["took"] = time.monotonic() - t0
        c.close()

    t = threading.Thread(target=slow)
    t.start()
    assert origin.hanging.wait(10), "the request never reached the server"
    other = hk.connect()
    t0 = time.monotonic()
    _, data = wire.call(other, wire.OP_NOOP, b"still here")
    noop_s = time.monotonic() - t0
    assert data == b"still here"
    assert "reply" not in out, "the HTTP request ended before the NOOP was answered"
    assert noop_s < 1.0, "NOOP took %.2f s while an HTTP request hung" % noop_s
    other.close()
    t.join(30)
    assert code(out["reply"]) == "ETIMEDOUT", out["reply"]
    assert "2 s" in out["reply"]["error"]
    assert 1.8 <= out["took"] < 10, out["took"]


def test_async_http_with_async_poll(hk, origin):
    c = hk.connect()
    _, r = wire.call_json(c, wire.OP_HTTP, {"url": origin.url("/status/404"), "async": True,
                                            "request_id": 42})
    assert r == {"success": True, "async": True, "request_id": 42, "status": "accepted"}

    def poll():
        res = wire.call_json(c, wire.OP_ASYNC_POLL, {"max": 8})[1]["results"]
        return res or None

    results = wait_until(poll, 15, 0.05, "the async HTTP result")
    assert results[0]["request_id"] == 42
    assert results[0]["opcode_name"] == "HTTP"
    payload = json.loads(results[0]["payload"])
    assert payload["success"] is True and payload["status_code"] == 404
    c.close()


def test_a_client_that_goes_away_stops_its_transfer(hk, origin):
    c = hk.connect()
    wire.send_frame(c, wire.OP_HTTP, {"url": origin.url("/drip"), "timeout": 60})
    assert origin.dripping.wait(10), "the transfer never started"
    c.close()
    # The kernel closes its connection to the server: the server's writes fail.
    assert origin.drip_broken.wait(10), "the transfer went on after its client left"
    s = hk.connect()
    assert wire.call(s, wire.OP_NOOP, b"ok")[1] == b"ok"
    s.close()


def test_async_transfer_stops_when_its_connection_closes(hk, origin):
    c = hk.connect()
    _, r = wire.call_json(c, wire.OP_HTTP, {"url": origin.url("/drip"), "async": True})
    assert r["status"] == "accepted"
    assert origin.dripping.wait(10)
    c.close()
    assert origin.drip_broken.wait(10), "the async transfer went on after its client left"


def test_shutdown_answers_running_requests(make_kernel, origin):
    k = make_kernel(extra_args=["--operator-permissions", json.dumps(LOCAL_POLICY)])
    c = k.connect()
    wire.send_frame(c, wire.OP_HTTP, {"url": origin.url("/hang"), "timeout": 60})
    assert origin.hanging.wait(10)
    t0 = time.monotonic()
    k.snapshot()
    k.proc.send_signal(15)
    _, r = wire.read_frame(c)
    r = json.loads(r)
    assert code(r) == "ESHUTDOWN", r
    assert k.proc.wait(15) == 0
    k.returncode = 0
    assert time.monotonic() - t0 < 10


def test_per_caller_limit_is_eagain(hk, origin):
    c = hk.connect()
    n = 8  # HTTP_MAX_CALLER_TRANSFERS
    for i in range(n + 1):
        _, r = wire.call_json(c, wire.OP_HTTP, {"url": origin.url("/hang"), "timeout": 3,
                                                "async": True, "request_id": i + 1})
        assert r["status"] == "accepted"
    results = {}

    def poll():
        for e in wire.call_json(c, wire.OP_ASYNC_POLL, {"max": 16})[1]["results"]:
            results[e["request_id"]] = json.loads(e["payload"])
        return len(results) == n + 1

    wait_until(poll, 20, 0.1, "all results")
    codes = sorted(code(r) for r in results.values())
    assert codes == ["EAGAIN"] + ["ETIMEDOUT"] * n, codes
    assert code(results[n + 1]) == "EAGAIN"
    # Another caller is not held back by this one's transfers (they have ended anyway).
    assert http(hk, url=origin.url("/status/200"))["status_code"] == 200
    c.close()


# ---------------------------------------------------------------------------------------------
# agents


AGENT = """
out = {}
r = call_json(SOCK, OP_HTTP, {"url": sys.argv[-1]})[1]
out["code"] = "ok" if r.get("success") else r.get("code")
out["status"] = r.get("status_code")
out["error"] = r.get("error")
report(**out)
ready()
sleep_forever()
"""


@pytest.mark.parametrize("which, permissions, expect", [
    ("hk", "standard", "EACCES"),
    ("public_kernel", {"level": "standard", "can_http": True, "network": ["*"],
                       "http_methods": ["GET"]}, "EACCES"),
    ("hk", {"level": "standard", "can_http": True, "network": ["127.0.0.1"]}, "ok"),
])
def test_agents_under_their_policies(request, origin, agent_script, which, permissions,
                                     expect):
    k = request.getfixturevalue(which)
    name = "h%d" % (abs(hash(json.dumps(permissions))) % 100000)
    r = spawn(k, agent_script, AGENT, name, args=[origin.url("/status/201")],
              permissions=permissions)
    rep = wait_report(r["log_path"], timeout=30)[0]
    assert rep["code"] == expect, rep
    if expect == "ok":
        # The agent's sandbox has no network; the kernel made the request for it.
        assert rep["status"] == 201
        assert len(origin.log) == 1
    else:
        assert origin.log == []
    if permissions == "standard":
        assert "can_http" in rep["error"]
    else:
        assert rep["status"] or "loopback" in rep["error"], rep
    k.request(wire.OP_KILL, {"id": r["id"], "grace": 0})


def test_agents_http_calls_are_recorded(kernel, agent_script):
    assert kernel.request(OP_RECORD_START, {"include_exec": False})["success"] is True
    url = "http://127.0.0.1:1/x"
    r = spawn(kernel, agent_script, AGENT, "rec", args=[url],
              permissions={"level": "standard", "can_http": True, "network": ["*"]})
    assert wait_report(r["log_path"], timeout=30)[0]["code"] == "EACCES"
    st = kernel.request(OP_RECORD_STATUS, {"get_entries": True})
    entries = [e for e in st["entries"] if e["opcode_name"] == "HTTP"]
    assert len(entries) == 1, st
    assert entries[0]["payload"] == {"url": url}
    assert entries[0]["response"]["code"] == "EACCES"
    assert entries[0]["agent_name"] == "rec"
    kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 0})


def test_kernel_sockets_to_servers_are_cloexec(hk, origin):
    """Every TCP socket the kernel holds while a request hangs has O_CLOEXEC."""
    c = hk.connect()
    wire.send_frame(c, wire.OP_HTTP, {"url": origin.url("/hang"), "timeout": 20})
    assert origin.hanging.wait(10)
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if int(cols[2].split(":")[1], 16) == origin.port:  # remote port
                    inodes.add(cols[9])
    pid = hk.pid
    checked = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except FileNotFoundError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int(next(ln for ln in f if ln.startswith("flags:")).split()[1], 8)
            assert flags & 0o2000000, "fd %s (%s) lacks O_CLOEXEC" % (fd, target)
            checked += 1
    assert checked >= 1, "found no socket of the kernel to the server"
    c.close()


def test_killing_an_agent_stops_its_transfer(hk, origin, agent_script):
    body = """
ready()
call_json(SOCK, OP_HTTP, {"url": sys.argv[-1], "timeout": 60})
report(done=True)
sleep_forever()
"""
    r = spawn(hk, agent_script, body, "dripper", args=[origin.url("/drip")],
              permissions={"level": "standard", "can_http": True, "network": ["127.0.0.1"]})
    assert origin.dripping.wait(15), "the agent's request never started"
    assert hk.request(wire.OP_KILL, {"id": r["id"], "grace": 0})["success"] is True
    assert origin.drip_broken.wait(10), "the transfer went on after its agent was killed"
