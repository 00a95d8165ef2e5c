"""The cache on a budget: identical files stored once, least recently used releases evicted.

Consecutive releases share most of their files (chunks whose content did not change keep
their names) and most of the packages their cron code imports, so every extracted release
and dependency install is deduplicated into a content-addressed store
(`<cache>/store/<2 hex>/<sha256>-<mode>`) by hard links. Nothing in the cache is written in
place: releases and dependency installs are only read, and patched copies replace files
by rename, so a shared inode never changes under another user.

Eviction works by release version: `releases/<v>`, its tarball and `deps/<v>` go together,
least recently used first (the stamp `<cache>/used/<v>`, touched whenever a release or its
dependencies are used), never the versions in use, never `installs/` (the records that make
`rollback` possible) or Node builds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from patcher.errors import UsageError

STORE = "store"
USED = "used"
GROWN = ".grown"  # touched whenever new content is stored: a walk of the cache takes seconds
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.I)


def parse_size(text: str) -> int:
    """`8G`, `500M`, `1.5GB`, `1024` (bytes) -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(
            f"--max-cache {text!r} is not a size such as 8G or 500M: fix it and retry."
        )
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** " KMGT".index(unit or " "))


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Files a tool may rewrite in place (npm's lockfile): never shared.
SKIP_NAMES = frozenset({".package-lock.json", "package-lock.json"})


def dedupe(tree: Path, cache: Path) -> int:
    """Replace every regular file under `tree` by a hard link to its copy in the store
    (adding it when new); returns the bytes saved. Files on another device stay as they are."""
    store = cache / STORE
    saved = 0
    mark_grown(cache)
    for dirpath, _dirnames, filenames in os.walk(tree):
        for name in filenames:
            if name in SKIP_NAMES:
                continue
            path = Path(dirpath, name)
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
                continue
            key = f"{file_sha256(path)}-{stat.S_IMODE(st.st_mode):o}"
            target = store / key[:2] / key
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                existing = target.stat()
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.link(path, target)  # the first copy becomes the stored one
                continue
            except OSError:
                continue
            if existing.st_ino == st.st_ino:
                continue
            tmp = path.with_name(f".{name}.dedupe")
            try:
                os.link(target, tmp)
                os.replace(tmp, path)
                saved += st.st_size
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
    return saved


def mark_grown(cache: Path) -> None:
    """Record that new content entered the cache (so its disk use must be measured again)."""
    with contextlib.suppress(OSError):
        (cache / GROWN).touch()


def grown_since(cache: Path, when: float) -> bool:
    """Whether new content entered the cache at or after `when` (time.time())."""
    try:
        return (cache / GROWN).stat().st_mtime >= when
    except OSError:
        return False


def touch_used(cache: Path, version: str) -> None:
    """Record that `version` was just used (for least-recently-used eviction)."""
    stamp = cache / USED / version
    with contextlib.suppress(OSError):
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()


def disk_usage(cache: Path) -> int:
    """Bytes the cache takes on disk, each inode counted once (hard links are free)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(cache):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def _units(cache: Path) -> dict[str, list[Path]]:
    """version -> the paths that go with it."""
    units: dict[str, list[Path]] = {}
    for version_dir in (cache / "releases").glob("*"):
        if version_dir.is_dir() and not version_dir.name.startswith("."):
            units.setdefault(version_dir.name, []).append(version_dir)
    for deps in (cache / "deps").glob("*"):
        if deps.is_dir() and not deps.name.startswith("."):
            units.setdefault(deps.name, []).append(deps)
    for tarball in (cache / "tarballs").glob("openclaw-*.tgz"):
        version = tarball.name[len("openclaw-") : -len(".tgz")]
        if version in units:
            units[version] += [tarball, tarball.with_name(tarball.name + ".integrity")]
    return units


def _last_used(cache: Path, version: str, paths: list[Path]) -> float:
    """When `version` was last used: its stamp, else when its files were written."""
    for candidate in (cache / USED / version, *paths):
        with contextlib.suppress(OSError):
            return candidate.stat().st_mtime
    return 0.0


def collect_garbage(cache: Path) -> None:
    """Drop stored files nothing links to any more."""
    for entry in (cache / STORE).glob("*/*"):
        with contextlib.suppress(OSError):
            if entry.stat().st_nlink == 1:
                entry.unlink()


def evict(cache: Path, max_bytes: int, keep: Iterable[str] = (), grace_s: float = 60) -> list[str]:
    """Evict least recently used versions until the cache fits `max_bytes`; never `keep`,
    nor a version used in the last `grace_s` seconds (another run may be using it)."""
    from patcher.releases import locked

    keep = set(keep)
    evicted: list[str] = []
    with locked(cache / ".evict.lock"):
        if disk_usage(cache) <= max_bytes:
            return evicted
        now = time.time()
        units = _units(cache)
        order = sorted(units, key=lambda v: _last_used(cache, v, units[v]))
        for version in order:
            if version in keep or now - _last_used(cache, version, units[version]) < grace_s:
                continue
            with (
                locked(cache / "releases" / f".{version}.lock"),
                locked(cache / "deps" / f".{version}.lock"),
            ):
                for path in units[version]:
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
            (cache / USED / version).unlink(missing_ok=True)
            evicted.append(version)
            collect_garbage(cache)
            if disk_usage(cache) <= max_bytes:
                break
    return evicted
