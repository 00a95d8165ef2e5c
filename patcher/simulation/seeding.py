"""Start a release's dependency install from the packages other releases' installs hold.

Consecutive releases resolve most of their dependencies to the same package versions, and
npm spends ten seconds writing 28,000 files per install (then storing them once costs four
more). So once npm has resolved this release's own lockfile (`--package-lock-only`: no
package written), every package that lockfile places at a path, version and integrity a
finished install holds is hard-linked from there (its files are the cache's store: nothing
writes into them), with its command links (npm writes a package again whose links are
missing), and `npm install` then writes only the rest. What is installed is what npm
resolved for this release; only where its bytes come from changes.
A release that asks npm for exactly what another asked gets that install cloned whole,
without npm (patcher/simulation/harness.py `ensure_dependencies`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from patcher.cache import layout
from patcher.cache.content import SKIP_NAMES
from patcher.files.locks import waiting

LOCKFILE = "package-lock.json"
# Beside an install made from the release's ranges alone (no stand-ins): the digest of what
# was asked of npm, so a release asking the same gets it cloned.
SAME = ".same.txt"


def same_install_key(wanted: dict[str, str], manifest: dict[str, Any]) -> str:
    """The digest of what an install asks of npm: the packages, their ranges, the overrides."""
    asked = {"dependencies": wanted, "overrides": manifest.get("overrides", {})}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:32]


def _finished(install: Path) -> bool:
    return (install / ".installed.json").is_file() and (install / "node_modules").is_dir()


def _others(deps_dir: Path):
    for other in sorted(deps_dir.parent.iterdir()):
        if other != deps_dir and not other.name.startswith(".") and _finished(other):
            yield other


def twin_install(deps_dir: Path, key: str) -> Path | None:
    """Another release's finished install that asked npm for exactly what this one asks."""
    for other in _others(deps_dir):
        with contextlib.suppress(OSError):
            if (other / SAME).read_text() == key:
                return other
    return None


def _link_or_copy(src: str, dst: str) -> None:
    # npm may rewrite its lockfiles in place: those are copied, never shared.
    if os.path.basename(src) not in SKIP_NAMES:
        with contextlib.suppress(OSError):
            os.link(src, dst)
            return
    shutil.copy2(src, dst)


def clone_install(twin: Path, deps_dir: Path, cache: Path) -> None:
    """`twin`'s node_modules and lockfile in `deps_dir`, hard-linked. The twin's lock keeps
    eviction from removing it meanwhile."""
    with waiting(layout.deps_lock(cache, twin.name)):
        shutil.rmtree(deps_dir / "node_modules", ignore_errors=True)
        shutil.copytree(
            twin / "node_modules",
            deps_dir / "node_modules",
            symlinks=True,
            copy_function=_link_or_copy,
        )
        for name in ("package.json", LOCKFILE):
            if (twin / name).is_file():
                shutil.copy2(twin / name, deps_dir / name)


def lock_entries(lockfile: Path) -> dict[str, dict[str, Any]]:
    """`node_modules/...` path -> its entry in a lockfile ({} for a lockfile that cannot be
    read)."""
    try:
        entries = json.loads(lockfile.read_text()).get("packages", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {
        path: entry
        for path, entry in (entries.items() if isinstance(entries, dict) else ())
        if path.startswith("node_modules/") and isinstance(entry, dict)
    }


def pinned(entries: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Path -> (version, integrity) of each entry installed from the registry."""
    found = {}
    for path, entry in entries.items():
        version, integrity = entry.get("version"), entry.get("integrity")
        if isinstance(version, str) and isinstance(integrity, str) and not entry.get("link"):
            found[path] = (version, integrity)
    return found


def sources(deps_dir: Path, entries: dict[str, dict[str, Any]]) -> list[tuple[Path, list[str]]]:
    """For each package `deps_dir`'s lockfile `entries` place, one finished install holding
    it at that path, version and integrity: the installs holding the most come first.
    Returns (install, its paths to link) pairs."""
    wanted = pinned(entries)
    holders = []
    for other in _others(deps_dir):
        theirs = pinned(lock_entries(other / LOCKFILE))
        held = {p for p, pin in wanted.items() if theirs.get(p) == pin}
        if held:
            holders.append((len(held), other.name, other, held))
    taken: set[str] = set()
    found = []
    for _, _, other, held in sorted(holders, key=lambda h: (-h[0], h[1])):
        if held - taken:
            found.append((other, sorted(held - taken)))
            taken |= held
    return found


def _link_package(source: Path, target: Path) -> None:
    """One package's own files (not the packages nested in its node_modules: those have
    entries of their own), hard-linked."""
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = [d for d in dirnames if d != "node_modules"]
        here = target / os.path.relpath(dirpath, source)
        here.mkdir(parents=True, exist_ok=True)
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                os.symlink(os.readlink(os.path.join(dirpath, name)), here / name)
        for name in filenames:
            src = os.path.join(dirpath, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), here / name)
            else:
                _link_or_copy(src, str(here / name))


def _command_names(entry: dict[str, Any]) -> list[str]:
    """The names of the commands a lockfile entry declares (`bin`), plain names only."""
    bins = entry.get("bin")
    names = bins if isinstance(bins, dict) else ()
    return [n for n in names if isinstance(n, str) and "/" not in n and n[:1] != "."]


def _link_bins(source: Path, deps_dir: Path, path: str, names: list[str]) -> None:
    """The command links of the package at `path` (`<its node_modules>/.bin/<name>`) as
    `source` holds them. npm checks that they exist: without them it writes the whole
    package again. A link that is absolute, or does not resolve here, is left to npm."""
    folder = f"{path.rpartition('node_modules/')[0]}node_modules/.bin"
    for name in names:
        held, link = source / folder / name, deps_dir / folder / name
        if not held.is_symlink() or os.path.lexists(link):
            continue
        target = os.readlink(held)
        if os.path.isabs(target):  # it would point into the other install
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
        if not link.exists():
            link.unlink()


def _parent_package(path: str) -> str | None:
    """The package a nested one sits in (`node_modules/a/node_modules/b` -> `node_modules/a`)."""
    head, sep, _ = path.rpartition("/node_modules/")
    return head if sep else None


def seed(deps_dir: Path, cache: Path) -> int:
    """Link into `deps_dir/node_modules` every package its lockfile places as another
    finished install holds it; returns how many. A package nested in one that was not
    linked is left to npm with it; any doubt leaves a package to npm."""
    entries = lock_entries(deps_dir / LOCKFILE)
    chosen = {path: source for source, paths in sources(deps_dir, entries) for path in paths}
    seeded = 0
    with contextlib.ExitStack() as stack:
        for source in sorted(set(chosen.values())):  # eviction waits meanwhile
            stack.enter_context(waiting(layout.deps_lock(cache, source.name)))
        for path in sorted(chosen):  # a package before those nested in it
            package, target = chosen[path] / path, deps_dir / path
            parent = _parent_package(path)
            if parent is not None and not (deps_dir / parent / "package.json").is_file():
                continue
            if not (package / "package.json").is_file() or target.exists():
                continue
            try:
                _link_package(package, target)
                _link_bins(chosen[path], deps_dir, path, _command_names(entries[path]))
            except OSError:
                shutil.rmtree(target, ignore_errors=True)
                continue
            seeded += 1
    return seeded
