"""Serialising the tool's writes: one process at a time per install and per cron store.

apply, rollback, status (which may recover an interrupted transaction) and store migrate
each hold the lock of what they change for their whole run, so a second run never sees
the first one's half-written journal as a crash. The lock is an OS file lock (filelock:
flock on POSIX, LockFileEx on Windows): the OS drops it when its process dies, so a lock
of a killed run is simply free. A lock held by a live process is waited for a bounded
time, then the command is refused with one sentence naming the holder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from patcher.errors import RefusedError

WAIT_ENV = "OPENCLAW_PATCHER_LOCK_WAIT"  # seconds; the tests shorten it
DEFAULT_WAIT_S = 60.0


class Busy(RefusedError):
    """Another openclaw-patcher holds the lock for longer than we wait."""


def wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S)))
    except ValueError:
        return DEFAULT_WAIT_S


def _holder(owner: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(owner.read_text().split()[0])
        return f" (pid {pid})"
    return ""


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold `lock_path` while the block runs; `what` names the locked thing for the user."""
    wait = wait_seconds() if wait_s is None else wait_s
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    owner = lock_path.with_name(lock_path.name + ".owner")
    from filelock import FileLock, Timeout  # imported by the commands that lock, when they do

    lock = FileLock(str(lock_path), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(
            f"{what} is being changed by another openclaw-patcher{_holder(owner)} (lock "
            f"{lock_path}, waited {wait:.0f} s): let it finish, then run the command again."
        ) from None
    try:
        with contextlib.suppress(OSError):
            owner.write_text(f"{os.getpid()}\n")
        yield
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        lock.release()


@contextlib.contextmanager
def waiting(lock_path: Path) -> Iterator[None]:
    """A lock of a cache entry, waited for as long as its holder needs (an npm install of
    a release's dependencies takes minutes)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(lock_path), timeout=-1):
        yield
