"""Every write to a user's file goes through here: backup, compare-and-swap, atomic rename.

The gateway writes its store files too, so a write first checks that the file still holds
the bytes we read; the new content goes to a temporary file in the same directory, is
fsynced, and renamed over the original, keeping its mode; the directory is fsynced last.
A crash at any point leaves either the old or the new file, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from patcher.errors import RefusedError, UsageError

# Every temporary file the tool writes is named `.<name>.openclaw-patcher-<pid>-<random>.tmp`,
# so recovery can delete what a killed write left, and nothing else: not another user's
# file, not one a live run (with another cache, another user) is writing right now.
TEMP_TAG = "openclaw-patcher-"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{TEMP_TAG}{os.getpid()}-"


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside `path` (see TEMP_TAG)."""
    return path.with_name(f"{_temp_prefix(path)}{os.urandom(4).hex()}.tmp")


class ChangedSinceRead(RefusedError):
    """The file changed between our read and our write: someone else (the gateway) wrote it."""


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (where the platform can open a folder)."""
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_unchanged(path: Path, expected: bytes | None) -> None:
    if expected is None:
        if path.exists():
            raise ChangedSinceRead(
                f"{path} appeared while it was being written: run the command again."
            )
        return
    try:
        current = path.read_bytes()
    except OSError as exc:
        raise ChangedSinceRead(
            f"{path} cannot be read back ({exc.strerror}): run the command again."
        ) from exc
    if current != expected:
        raise ChangedSinceRead(
            f"{path} changed while it was being migrated (is the gateway running?): "
            "nothing was written; stop the gateway or run the command again."
        )


def backup_path(path: Path, tag: str = "openclaw-patcher") -> Path:
    """A fresh backup name beside `path`: `<name>.<tag>-<UTC time>.bak`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = path.with_name(f"{path.name}.{tag}-{stamp}.bak")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{tag}-{stamp}-{n}.bak")
    return candidate


def write_backup(path: Path, content: bytes, mode: int) -> Path:
    """Write `content` (the original bytes) to a new backup file with the original's mode."""
    target = backup_path(path)
    tmp = temp_path(target)
    try:
        # Whole or not at all: a full disk or a kill leaves no truncated backup behind.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o777)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        # A fresh name under the store's lock: a rename works on every file system (a hard
        # link does not on vfat, exFAT or SMB).
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(path.parent)
    return target


def replace_file(path: Path, content: bytes, expected: bytes | None, mode: int) -> None:
    """Atomically replace `path` with `content` if it still holds `expected` (None: absent)."""
    _check_unchanged(path, expected)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            if hasattr(os, "fchown"):  # keep the owner when we may (running as root)
                with contextlib.suppress(OSError):
                    st = path.stat()
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            # After the chown, which clears set-user-ID and set-group-ID bits.
            os.fchmod(fh.fileno(), mode & 0o7777)
            os.fsync(fh.fileno())
        # Checked again right before the rename: the window left is the rename itself.
        _check_unchanged(path, expected)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def check_destination(path: Path, what: str = "--output") -> None:
    """Refuse, before any work is done, a report destination that cannot be written: its
    folder missing or not writable, or the path a folder. A probe file is created and
    removed, so the check is the file system's own answer, not a guess from mode bits."""
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder: name a file in it instead.")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(
            f"{what} {path}: the folder {folder} does not exist: create it or choose another path."
        )
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(
            f"{what} {path}: cannot write in {folder} ({exc.strerror}): choose another path."
        ) from exc


def write_text_atomic(path: Path, text: str) -> None:
    """Write a report whole or not at all: a temporary file beside it, renamed over it."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_temp_files(folder: Path, name: str | None = None) -> None:
    """Delete the temporary files of ours that a killed write left in `folder` (of `name`
    only): those whose process is gone."""
    import psutil

    pattern = f".{name}.{TEMP_TAG}*.tmp" if name else f".*.{TEMP_TAG}*.tmp"
    for tmp in folder.glob(pattern):
        pid = tmp.name.rsplit(TEMP_TAG, 1)[-1].split("-", 1)[0]
        if pid.isdigit() and psutil.pid_exists(int(pid)) and int(pid) != os.getpid():
            continue  # a live run is writing it
        with contextlib.suppress(OSError):
            tmp.unlink()
