"""Run a side of the gateway check in a network namespace with loopback only.

As root on Linux the side runs in a forked child that has left the machine's network
(`unshare(CLONE_NEWNET)`) and brought its own loopback up: the gateway, its CLI calls and
the stand-in model can reach 127.0.0.1 and nothing else, whatever the code tries.
Elsewhere the side runs in this process, and the configuration alone keeps it on
loopback (bind loopback, proxies pointed at a closed port); the report says which.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def _unshare_net() -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    _loopback_up()
    return True


def can_isolate() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0 and hasattr(os, "fork")


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwinds through every `finally`, which stops the gateways


def run_isolated(work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """(`work()`'s JSON-able result, whether it ran in a loopback-only namespace).

    In the child an exception comes back as its message (IsolatedFailure). When the parent
    is interrupted (Ctrl-C, a failure), it sends the child SIGTERM, which unwinds the
    child's work so it stops every gateway it started, then SIGKILL after 30 s."""
    return run_isolated_all([work])[0]


def run_isolated_all(
    works: list[Callable[[], dict[str, Any]]],
) -> list[tuple[dict[str, Any], bool]]:
    """run_isolated for each of `works`, all at once, each in a child of its own; where no
    namespace can be made, one after another in this process. The children are forked from
    this thread before any waits, so none inherits another's half-done work; when one fails
    or the parent is interrupted, every child still running is ended as run_isolated ends
    its one."""
    if not can_isolate():
        return [(work(), False) for work in works]
    children: list[_Child] = []
    try:
        for work in works:
            children.append(_fork(work))
        results: dict[int, dict[str, Any]] = {}
        while len(results) < len(children):
            # Whichever child ends first is read first: a failure ends the others at once.
            waiting = {c.read_end: c for c in children if c.pid not in results}
            ready, _, _ = select.select(list(waiting), [], [])
            for fd in ready:
                results[waiting[fd].pid] = waiting[fd].collect()
        return [(results[c.pid], True) for c in children]
    except BaseException:
        _end_all(children)
        raise


class _Child:
    """One forked side: its pid and the pipe its result comes back on."""

    def __init__(self, pid: int, read_end: int) -> None:
        self.pid, self.read_end = pid, read_end
        self.reaped = False

    def collect(self) -> dict[str, Any]:
        inp, self.read_end = os.fdopen(self.read_end), -1  # the file object closes it now
        with inp:
            text = inp.read()
        os.waitpid(self.pid, 0)
        self.reaped = True
        payload = json.loads(text or '{"error": "the isolated side ended without a word"}')
        if "error" in payload:
            raise IsolatedFailure(payload["error"])
        return payload["result"]

    def unread(self) -> None:
        if self.read_end >= 0:  # never collected
            os.close(self.read_end)
            self.read_end = -1


def _fork(work: Callable[[], dict[str, Any]]) -> _Child:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        os.close(read_end)
        code = 0
        try:
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
            signal.signal(signal.SIGINT, _stop_on_sigterm)
            if not _unshare_net():
                raise OSError("could not enter a network namespace")
            payload: dict[str, Any] = {"result": work()}
        except BaseException as exc:  # everything goes back to the parent as text
            payload = {"error": str(exc) or type(exc).__name__, "trace": traceback.format_exc()}
            code = 1
        with contextlib.suppress(OSError), os.fdopen(write_end, "w") as out:
            out.write(json.dumps(payload))
        os._exit(code)
    os.close(write_end)
    return _Child(pid, read_end)


def _end_all(children: list[_Child]) -> None:
    """SIGTERM every child not yet reaped (each unwinds and stops its gateways), all at
    once so their ends overlap; SIGKILL whichever is still there 30 s later."""
    left = []
    for child in children:
        child.unread()
        if not child.reaped:  # a reaped pid may already be another process's
            child.reaped = True
            left.append(child.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while left and time.monotonic() < deadline:
        for pid in list(left):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            left.remove(pid)
        if left:
            time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


class IsolatedFailure(RuntimeError):
    """The side failed inside its namespace; the message is its reason."""
