"""Reading files of an install or a store that may be hostile: regular files only, bounded.

A FIFO named `x.js` would block a plain `open()` forever, a symlink to `/dev/zero` would be
read until memory runs out. Every read of a file the tool did not write goes through here:
the file is opened without blocking, must be a regular file, and is read up to a limit.
"""

from __future__ import annotations

import os
import stat

from patcher.errors import UsageError

# Bundles are at most tens of MB (the largest chunk of any release is about 50 MB).
MAX_BYTES = 256 * 1024 * 1024
# Binary on Windows (no newline translation, no stop at 0x1A), never blocking on a FIFO.
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class NotReadable(UsageError):
    """A path that is not a regular file, or larger than a file of its kind can be."""


def read_regular(path: str | os.PathLike, limit: int = MAX_BYTES, *, head: bool = False) -> bytes:
    """The bytes of the regular file `path` (following symlinks), at most `limit` of them;
    with `head`, the first `limit` bytes of a larger file instead of a refusal. Raises
    NotReadable for a FIFO, a device, a folder or an oversized file, OSError as open does."""
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable(
                f"{path} is not a regular file (a FIFO, a device or a folder): remove it or "
                "put the file that belongs there back."
            )
        if st.st_size > limit and not head:
            raise NotReadable(
                f"{path} holds {st.st_size} bytes, more than the {limit} a file of its kind "
                "may: remove it or restore the original."
            )
        chunks, left = [], limit + (0 if head else 1)
        while left > 0:
            # One read normally returns the whole file; loop for short reads.
            want = min(left, max(st.st_size + 1, 65536))
            chunk = os.read(fd, want)
            chunks.append(chunk)
            left -= len(chunk)
            if len(chunk) < want:  # a regular file reads short only at its end
                break
        data = b"".join(chunks)
        if len(data) > limit:
            if head:
                return data[:limit]
            raise NotReadable(f"{path} grew past {limit} bytes while it was read: retry.")
        return data
    finally:
        os.close(fd)


def read_regular_text(path: str | os.PathLike, limit: int = MAX_BYTES) -> str:
    return read_regular(path, limit).decode("utf-8")
