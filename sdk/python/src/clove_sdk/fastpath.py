# SPDX-License-Identifier: MIT
"""The shared-memory fast path (docs/shm.md) through libclove, the C client, over ctypes:
libclove attaches the rings to a duplicate of the connection's socket and runs each call through
them; this module only encodes payloads as msgpack (the rings' encoding) and maps errors.

libclove is looked for in ``$LIBCLOVE`` (a path), next to this package, then on the linker's
path; msgpack comes from the ``msgpack`` package (the ``fastpath`` extra). When either is
missing the client uses the socket and says so once, on one line, through the ``clove_sdk``
logger; when the kernel does not offer the rings it uses the socket silently."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import glob
import json
import logging
import os
import threading
from typing import Any, Callable, Optional, Union

from .errors import CloveConnectionError, CloveTimeoutError

log = logging.getLogger("clove_sdk")

RAW_OPCODES = frozenset((0x00, 0xFF))  # NOOP and EXIT carry raw bytes on every transport

_load_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_error: Optional[str] = None
_noticed = False


def _candidates() -> list[str]:
    found = []
    env = os.environ.get("LIBCLOVE")
    if env:
        found.append(env)
    here = os.path.dirname(os.path.abspath(__file__))
    found += sorted(glob.glob(os.path.join(here, "libclove.so*")))
    name = ctypes.util.find_library("clove")
    found += [name] if name else []
    found += ["libclove.so.0", "libclove.so"]
    return found


# libclove's clove_partial_fn: (data, payload, len).
PARTIAL_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


def _declare(lib: ctypes.CDLL) -> None:
    vp, sz, u8, i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint8, ctypes.c_int
    lib.clove_connect_fd.argtypes = [i, ctypes.POINTER(vp)]
    lib.clove_connect_fd.restype = i
    lib.clove_shm_attach.argtypes = [vp, ctypes.POINTER(vp), ctypes.POINTER(sz)]
    lib.clove_shm_attach.restype = i
    lib.clove_set_timeout.argtypes = [vp, i]
    lib.clove_set_timeout.restype = i
    lib.clove_call.argtypes = [vp, u8, ctypes.c_char_p, sz, ctypes.POINTER(vp),
                               ctypes.POINTER(sz)]
    lib.clove_call.restype = i
    lib.clove_call_stream.argtypes = [vp, u8, ctypes.c_char_p, sz, PARTIAL_FN, vp,
                                      ctypes.POINTER(vp), ctypes.POINTER(sz)]
    lib.clove_call_stream.restype = i
    lib.clove_agent_id.argtypes = [vp]
    lib.clove_agent_id.restype = ctypes.c_uint32
    lib.clove_free.argtypes = [vp]
    lib.clove_free.restype = None
    lib.clove_close.argtypes = [vp]
    lib.clove_close.restype = None


def load_libclove() -> Optional[ctypes.CDLL]:
    """libclove with the fast path's functions declared, or None (``library_error()`` says why)."""
    global _lib, _lib_error
    with _load_lock:
        if _lib is not None or _lib_error is not None:
            return _lib
        errors = []
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)
                _declare(lib)
            except (OSError, AttributeError) as e:
                errors.append(f"{path}: {e}")
                continue
            _lib = lib
            return lib
        _lib_error = "; ".join(errors[:2]) or "not found"
        return None


def library_error() -> Optional[str]:
    return _lib_error


def notice_once(why: str) -> None:
    """The one-line notice that the fast path is not used."""
    global _noticed
    if not _noticed:
        _noticed = True
        log.warning("clove_sdk: shared-memory fast path unavailable (%s); using the socket", why)


def _msgpack() -> Any:
    import msgpack  # the "fastpath" extra
    return msgpack


def encode(opcode: int, payload: Any) -> bytes:
    """A request payload for the rings: msgpack, except NOOP/EXIT (raw bytes). Bytes given for
    another opcode are taken as JSON text and converted; bytes that are not JSON are sent as they
    are, and the kernel answers EBADMSG just as it does for bad JSON on the socket."""
    if payload is None:
        return b""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = bytes(payload)
        if opcode in RAW_OPCODES or not data:
            return data
        try:
            obj = json.loads(data)
        except ValueError:
            return data
        return _msgpack().packb(obj, use_bin_type=True)
    return _msgpack().packb(dict(payload), use_bin_type=True)


def decode(body: Union[bytes, bytearray]) -> Any:
    return _msgpack().unpackb(bytes(body), raw=False)


def _timeout_ms(timeout: Optional[float]) -> int:
    return -1 if timeout is None else max(0, int(timeout * 1000))


class FastPath:
    """libclove's client on a duplicate of one connection's socket, with the rings attached."""

    def __init__(self, lib: ctypes.CDLL, client: ctypes.c_void_p) -> None:
        self._lib = lib
        self._c = client
        self._reply = ctypes.c_void_p()
        self._len = ctypes.c_size_t()
        self._timeout: Any = object()
        self.agent_id = int(lib.clove_agent_id(client))

    @classmethod
    def attach(cls, sock_fd: int, timeout: Optional[float]) -> Optional["FastPath"]:
        """Attaches the rings next to the socket sock_fd (left open; libclove gets a
        duplicate). None when the library or msgpack is missing (after the notice) or the
        kernel does not offer the rings (the connection is unchanged then)."""
        lib = load_libclove()
        if lib is None:
            notice_once(f"libclove not found: {library_error()}; set LIBCLOVE")
            return None
        try:
            _msgpack()
        except ImportError:
            notice_once("the msgpack package is missing: pip install 'clove-sdk[fastpath]'")
            return None
        client = ctypes.c_void_p()
        r = lib.clove_connect_fd(os.dup(sock_fd), ctypes.byref(client))
        if r < 0:
            raise CloveConnectionError(f"libclove cannot use the socket: {os.strerror(-r)}",
                                       errno.errorcode.get(-r))
        lib.clove_set_timeout(client, _timeout_ms(timeout))
        hello, hello_len = ctypes.c_void_p(), ctypes.c_size_t()
        r = lib.clove_shm_attach(client, ctypes.byref(hello), ctypes.byref(hello_len))
        text = ctypes.string_at(hello, hello_len.value) if hello else b""
        lib.clove_free(hello)
        if r == -errno.EOPNOTSUPP:
            lib.clove_close(client)
            try:
                why = (json.loads(text).get("shm") or {}).get("reason", "not offered")
            except (ValueError, AttributeError):
                why = "not offered"
            log.debug("clove_sdk: the kernel did not attach the fast path: %s", why)
            return None
        if r < 0:
            lib.clove_close(client)
            if r == -errno.ETIMEDOUT:
                raise CloveTimeoutError("attaching the fast path timed out", "ETIMEDOUT")
            raise CloveConnectionError(f"attaching the fast path failed: {os.strerror(-r)}",
                                       errno.errorcode.get(-r))
        return cls(lib, client)

    def roundtrip(self, opcode: int, data: bytes, timeout: Optional[float],
                  on_partial: Optional[Callable[[bytes], None]] = None) -> bytes:
        """One call over the rings; the reply payload (msgpack, or raw for
        NOOP/EXIT). With on_partial, the request may stream: each partial
        reply's payload goes to on_partial (in this thread) before the final
        one is returned."""
        if timeout != self._timeout:
            self._lib.clove_set_timeout(self._c, _timeout_ms(timeout))
            self._timeout = timeout
        if on_partial is None:
            r = self._lib.clove_call(self._c, opcode, data, len(data),
                                     ctypes.byref(self._reply), ctypes.byref(self._len))
        else:
            def partial(_data: Any, payload: int, length: int) -> None:
                on_partial(ctypes.string_at(payload, length))
            callback = PARTIAL_FN(partial)
            r = self._lib.clove_call_stream(self._c, opcode, data, len(data), callback, None,
                                            ctypes.byref(self._reply),
                                            ctypes.byref(self._len))
        if r < 0:
            code = errno.errorcode.get(-r, "EIO")
            if r == -errno.ETIMEDOUT:
                raise CloveTimeoutError(f"no reply within {timeout} s", code)
            raise CloveConnectionError(
                f"the fast path failed: {os.strerror(-r)}", code)
        try:
            return ctypes.string_at(self._reply, self._len.value)
        finally:
            self._lib.clove_free(self._reply)

    def close(self) -> None:
        c, self._c = self._c, None
        if c:
            self._lib.clove_close(c)
