# SPDX-License-Identifier: MIT
"""``CloveClient.http`` (the original SDK's name and keywords: ``url, method, headers, body,
timeout``): the request it builds (against a fake kernel), and the real thing over the socket
and over the shared-memory fast path, against a real ``cloved`` whose operator policy names
127.0.0.1 and a local origin server (tests/fakes/http_origin.py). Skipped, with the reason,
when $CLOVED is not set, and the shm runs when libclove cannot be loaded."""

from __future__ import annotations

import base64
import json
import pathlib
import sys
import time
from typing import Iterator

import pytest

from sdk_fakes import FakeKernel, ok

from clove_sdk import AsyncAccepted, CloveClient, CloveError, HttpResult, Opcode
from clove_sdk import fastpath
from live_kernel import run_cloved

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "fakes"))
from http_origin import Origin  # noqa: E402

pytestmark = pytest.mark.timeout(120)

POLICY = {"level": "unrestricted", "network": ["127.0.0.1"]}


# -- the request it builds ------------------------------------------------------


def test_http_payload(fake_kernel):
    k: FakeKernel = fake_kernel(lambda req: ok(req.opcode, status_code=201, body="aGk=",
                                               body_encoding="base64", headers={},
                                               truncated=False))
    c = CloveClient.from_socket(k.client_sock, timeout=5)
    r = c.http("http://x.example/a", "post", {"X-A": "1"}, "text body")
    assert isinstance(r, HttpResult)
    assert r.status_code == 201 and r.ok and r.data == b"hi"
    r = c.http("http://x.example/b", method="PUT", headers=["X-B: 2"], body=b"\x00\xff",
               timeout=5, max_bytes=10, follow_redirects=False)
    c.http("http://x.example/c", async_=True, request_id=3)
    assert k.frames[0].opcode == Opcode.HTTP
    assert k.frames[0].json() == {"url": "http://x.example/a", "method": "post",
                                  "headers": {"X-A": "1"}, "body": "text body",
                                  "timeout": 30}
    assert k.frames[1].json() == {"url": "http://x.example/b", "method": "PUT",
                                  "headers": ["X-B: 2"], "timeout": 5, "max_bytes": 10,
                                  "follow_redirects": False,
                                  "body_base64": base64.b64encode(b"\x00\xff").decode()}
    assert k.frames[2].json() == {"url": "http://x.example/c", "method": "GET",
                                  "timeout": 30, "request_id": 3, "async": True}


# -- against a real kernel ------------------------------------------------------


@pytest.fixture(scope="module")
def cloved(tmp_path_factory) -> Iterator[str]:
    """A cloved whose operators may reach 127.0.0.1; yields its socket path."""
    yield from run_cloved(tmp_path_factory, ("--operator-permissions", json.dumps(POLICY)))


@pytest.fixture(params=["socket", "shm"])
def client(request, cloved) -> Iterator[CloveClient]:
    if request.param == "shm" and fastpath.load_libclove() is None:
        pytest.skip(f"libclove cannot be loaded ({fastpath.library_error()}); set LIBCLOVE")
    with CloveClient(cloved, timeout=30, fast_path=request.param == "shm") as c:
        c.hello()
        assert c.fast_path_active is (request.param == "shm")
        yield c


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as o:
        yield o


def test_get_post_and_status_codes(client, origin):
    r = client.http(origin.url("/echo"))
    assert isinstance(r, HttpResult) and r.ok and r.status_code == 200
    assert r.json()["method"] == "GET"
    assert r.headers["x-echo"] == "yes"
    r = client.http(origin.url("/echo"), "POST", {"Content-Type": "text/plain"}, "héllo")
    assert r.json()["body"] == "héllo"
    assert origin.log[-1]["body"] == "héllo".encode()
    r = client.http(origin.url("/status/404"))
    assert r.status_code == 404 and not r.ok and r.body == "status 404"


def test_binary_both_ways(client, origin):
    r = client.http(origin.url("/echo"), "PUT", ["X-Bin: 1"], bytes(range(256)))
    assert r.status_code == 200
    assert origin.log[-1]["body"] == bytes(range(256))
    r = client.http(origin.url("/binary"))
    assert r.body_encoding == "base64" and r.data == bytes(range(256))


def test_redirects_truncation_and_refusals(client, origin):
    r = client.http(origin.url("/redirect/2"))
    assert r.redirects == 2 and r.body == "arrived"
    r = client.http(origin.url("/big/5000"), max_bytes=100)
    assert r.truncated is True and len(r.data) == 100
    with pytest.raises(CloveError) as info:
        client.http("http://127.0.0.2:%d/" % origin.port)
    assert info.value.code == "EACCES"
    with pytest.raises(CloveError) as info:
        client.http(origin.url("/hang"), timeout=1)
    assert info.value.code == "ETIMEDOUT"


def test_async(client, origin):
    acc = client.http(origin.url("/status/202"), async_=True)
    assert isinstance(acc, AsyncAccepted)
    deadline = time.monotonic() + 15
    results = []
    while not results and time.monotonic() < deadline:
        results = list(client.poll_async())
        time.sleep(0.05)
    assert results, "no async result"
    res = results[0]
    assert res.ok and res.request_id == acc.request_id
    assert isinstance(res.payload, HttpResult) and res.payload.status_code == 202
