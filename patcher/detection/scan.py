"""The byte prefilter: which JavaScript files of a dist mention any of a few needles.

A dist holds 7,000 to 24,000 files and up to 280 MB; only a handful play a role. This pass
reads every `.js` / `.mjs` file once and keeps those containing a needle, so the structural
check (ast-grep) only ever sees those few. On a multi-core machine the file list is split
across forked workers, because reading and `bytes.find` are the whole cost.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from patcher.files.reading import NotReadable, read_regular
from patcher.system.cores import usable_cores

JS_SUFFIXES = (".js", ".mjs")


def list_js_files(dist: Path) -> list[str]:
    """Every `.js` / `.mjs` file under `dist` (not following symlinked directories)."""
    out: list[str] = []
    stack = [str(dist)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.name.endswith(JS_SUFFIXES):
                        out.append(entry.path)
        except OSError:
            continue
    out.sort()
    return out


def _read(path: str) -> bytes:
    """A file's bytes: regular files only, bounded (patcher.files.reading)."""
    return read_regular(path)


def _scan_serial(paths: Iterable[str], needles: Sequence[bytes]) -> dict[str, list[int]]:
    hits: dict[str, list[int]] = {}
    for path in paths:
        try:
            data = _read(path)
        except (OSError, NotReadable):  # a FIFO, a device, a huge file: no bundle of ours
            continue
        found = [i for i, needle in enumerate(needles) if needle in data]
        if found:
            hits[path] = found
    return hits


def _scan_forked(paths: list[str], needles: Sequence[bytes], workers: int) -> dict[str, list[int]]:
    """Scan slices of `paths` in forked children; each child reports its hits as JSON."""
    children: list[tuple[int, int]] = []
    for k in range(1, workers):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: scan its slice, write, and leave without running atexit hooks
            code = 0
            try:
                os.close(read_end)
                payload = json.dumps(_scan_serial(paths[k::workers], needles)).encode()
                view = memoryview(payload)
                while view:
                    view = view[os.write(write_end, view) :]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_end)
        children.append((pid, read_end))
    hits = _scan_serial(paths[0::workers], needles)
    for pid, read_end in children:
        chunks = []
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            # A child that failed is rescanned here rather than trusted partially.
            k = children.index((pid, read_end)) + 1
            hits.update(_scan_serial(paths[k::workers], needles))
        else:
            hits.update(json.loads(b"".join(chunks) or b"{}"))
    return hits


# Inside `remembered()`: what a file held, by its identity, for each set of needles already
# looked for. verify scans the same dist several times (detect, the harness's functions,
# planning, and again in `apply` on its scratch copy, which is hard links to the release).
# A file with the same device, inode, size and modification time is the same bytes while
# verify runs (every writer here replaces files, never writes into them), so it is read once.
_SEEN: dict[tuple[bytes, ...], dict[tuple[int, int, int, int], list[int]]] | None = None


@contextlib.contextmanager
def remembered() -> Iterator[None]:
    """Scans in this block read each file once per set of needles (see _SEEN)."""
    global _SEEN
    outer, _SEEN = _SEEN, {} if _SEEN is None else _SEEN
    try:
        yield
    finally:
        _SEEN = outer


def _identity(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _scan(paths: list[str], needles: Sequence[bytes], workers: int | None) -> dict[str, list[int]]:
    if workers is None:
        workers = min(usable_cores(), 4)
    if workers > 1 and hasattr(os, "fork") and len(paths) > 256:
        return _scan_forked(paths, needles, workers)
    return _scan_serial(paths, needles)


def scan(dist: Path, needles: Sequence[bytes], workers: int | None = None) -> dict[str, list[int]]:
    """Map each file under `dist` that contains a needle to the indexes of the needles found."""
    paths = list_js_files(dist)
    if _SEEN is None:
        return _scan(paths, needles, workers)
    seen = _SEEN.setdefault(tuple(needles), {})
    identities = {path: _identity(path) for path in paths}
    unread = [path for path, ident in identities.items() if ident not in seen]
    found = _scan(unread, needles, workers)
    for path in unread:
        if identities[path] is not None:
            seen[identities[path]] = found.get(path, [])
    hits = {}
    for path, ident in identities.items():
        ids = found.get(path) if ident is None else seen.get(ident)
        if ids:
            hits[path] = ids
    return hits
