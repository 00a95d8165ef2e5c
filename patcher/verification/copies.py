"""Scratch copies of an install for `verify` and `matrix`, repaired as `apply` repairs them.

A copy is hard links to the install's files: `apply` and `rollback` replace a file (write a
temporary file, rename it over), never write into one, so the install itself stays as it
is and a copy of a 250 MB release costs little. The copy is repaired by `apply` itself (no
simulation: the caller runs it), so what gets verified is what users get; after the
simulation the same copy is rolled back and compared with the install file by file.

A fetched release's copy is kept in the cache (`<cache>/copies/<v>`) and used run after
run: making 23,000 links and removing them again cost a second of every verify. It is
only used where the last run proved it identical to the release, rolled back (a `.clean`
stamp naming the release's file record); otherwise it is made anew.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from patcher.cache.content import TREE_RECORD, file_sha256
from patcher.cache.layout import COPIES, kept_copy_dir, kept_copy_lock
from patcher.cache.scratch import scratch
from patcher.detection.detect import detect_install
from patcher.detection.install import open_install
from patcher.errors import PatcherError, RefusedError
from patcher.files.atomic import replace_file, write_text_atomic
from patcher.files.locks import Busy, exclusive
from patcher.files.walk import tree_lstat
from patcher.repair.commands import apply, rollback
from patcher.repair.state import marked_files
from patcher.repair.transaction import InstallRecord, checked_backup, safe_target

if TYPE_CHECKING:
    from patcher.simulation.harness import Prepared


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link to `src` at `dst`, or a copy where links cannot be made (shutil's
    copy_function for scratch copies)."""
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links there
        shutil.copy2(src, dst)


def linked_copy(root: Path, folder: Path) -> Path:
    """A hard-linked copy of the install at `root` as `folder/package`. Where the install
    sits in a node_modules (an npm install keeps its dependencies hoisted beside it),
    `folder/node_modules` links to that folder, so the copy resolves them as the install
    does."""
    copy = folder / "package"
    shutil.copytree(root, copy, symlinks=True, copy_function=_link_or_copy)
    if root.parent.name == "node_modules":
        (folder / "node_modules").symlink_to(root.parent, target_is_directory=True)
    return copy


@contextlib.contextmanager
def plain_copy(root: Path, cache: Path) -> Iterator[Path]:
    """linked_copy in a scratch folder, removed on exit."""
    with scratch(cache, "pristine") as folder:
        yield linked_copy(root, folder)


CLEAN = ".clean"  # beside a kept copy's package/: the release record it is identical to


def _release_key(root: Path) -> str | None:
    """The digest of a fetched release's file record (None for an install that has none):
    a kept copy stands for that tree only."""
    try:
        return hashlib.sha256((root.parent / TREE_RECORD).read_bytes()).hexdigest()
    except OSError:
        return None


def _kept_folder(stack: contextlib.ExitStack, root: Path, cache: Path, version: str) -> Path | None:
    """The folder of the release's kept copy, held for this run and no longer marked clean
    (until rolled_back_identical proves it so again); made anew unless the last run left
    it identical to this very release. None where another run holds it or `root` has no
    file record."""
    key = _release_key(root)
    if key is None:
        return None
    try:
        stack.enter_context(exclusive(kept_copy_lock(cache, version), "a kept copy", wait_s=0))
    except Busy:  # another verify of the same release: it takes a scratch copy
        return None
    folder = kept_copy_dir(cache, version)
    clean = folder / CLEAN
    try:
        reusable = clean.read_text() == key
    except OSError:
        reusable = False
    if not reusable:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        linked_copy(root, folder)
    # Earlier versions kept a compile cache of the copy's own here (see kept_compile_cache).
    shutil.rmtree(folder / "compile-cache", ignore_errors=True)
    clean.unlink(missing_ok=True)
    return folder


@contextlib.contextmanager
def repaired_copy(root: Path, cache: Path, keep: str | None = None) -> Iterator[Path]:
    """A hard-linked copy of the install at `root` (linked_copy), with the repair applied by
    `apply` (a scratch state dir, no simulation); removed, with apply's record of it, on
    exit. With `keep` (a fetched release's version), the release's kept copy where it is
    free, left in place once rolled_back_identical has found it identical again."""
    with contextlib.ExitStack() as stack:
        folder = _kept_folder(stack, root, cache, keep) if keep else None
        kept = folder is not None
        if folder is None:
            folder = stack.enter_context(scratch(cache, "patched"))
            linked_copy(root, folder)
        copy = folder / "package"
        try:
            state = folder / "state"
            shutil.rmtree(state, ignore_errors=True)
            state.mkdir()
            outcome = apply(copy, cache, skip_simulation=True, state_dir=state)
            if outcome.outcome != "applied":
                raise PatcherError(f"apply on a scratch copy of {root} ended {outcome.outcome}")
            yield copy
        finally:
            shutil.rmtree(InstallRecord(cache, copy).dir, ignore_errors=True)
            if kept and not (folder / CLEAN).is_file():  # not proven back: never reused
                shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def unpatched_copy(root: Path, cache: Path) -> Iterator[Path]:
    """A linked copy of the repaired install at `root` with every file the repair changed
    put back from apply's backups (each checked against its recorded hash), as `rollback`
    would: the pristine release of a repaired install, for its negative control. Refused
    by name where the install has no record of the repair, or where a file of the copy
    still carries a marker of it."""
    manifest = InstallRecord(cache, root).load()
    if not manifest or not manifest.get("files"):
        raise RefusedError(
            f"{root} carries the repair but this cache holds no record of it (apply ran "
            "with another --cache-dir?): the pristine side cannot be rebuilt; pass that "
            "--cache-dir, or verify --release VERSION."
        )
    record = InstallRecord(cache, root)
    with scratch(cache, "pristine") as folder:
        copy = linked_copy(root, folder)
        for entry in manifest["files"]:
            original = checked_backup(record, entry)
            target = safe_target(copy.resolve(), entry["path"])
            # A new file in the copy's place: the link to the install's file stays as it is.
            replace_file(target, original, target.read_bytes(), entry["mode"])
        left = marked_files(detect_install(open_install(copy)))
        if left:
            raise RefusedError(
                f"apply's backups of {root} do not restore the release: "
                f"{', '.join(left)} still carry the repair; reinstall the release."
            )
        yield copy


def _is_kept(copy: Path, cache: Path) -> bool:
    """Whether `copy` (a `package/` folder) is a release's kept copy, not a scratch one."""
    return copy.parent.parent == cache / COPIES


def kept_compile_cache(copy: Path, cache: Path, release: Prepared) -> Path | None:
    """Where Node keeps the code it compiles for a kept copy: the release's own compile
    cache (a kept copy's paths stay, so its processes load compiled code as the release's
    do, and the dependencies both load are the same files, whose code is then kept once);
    None for a scratch copy, whose paths change every run."""
    return release.compile_cache if _is_kept(copy, cache) else None


def rolled_back_identical(copy: Path, root: Path, cache: Path) -> bool:
    """`rollback` the repaired copy; then every file must be byte-identical to `root`'s."""

    rollback(copy, cache)
    identical = identical_trees(copy, root)
    key = _release_key(root) if identical and _is_kept(copy, cache) else None
    if key:
        write_text_atomic(copy.parent / CLEAN, key)  # a kept copy: fit for the next run
    return identical


def _files(root: Path) -> dict[str, os.stat_result]:
    """Every file under `root` but the top-level node_modules (a fetched release's link to
    the harness's dependencies, or an install's own packages; the repair touches neither).
    Bundled plugins ship node_modules inside dist/: those are part of the release."""
    return tree_lstat(root, lambda rel, _st: rel == "node_modules")


def identical_trees(copy: Path, release: Path) -> bool:
    """The same files with the same bytes and modes (a symlink: the same target). A file
    still hard-linked to the release's (same inode) is the same file; only the others are
    read and compared."""
    ours, theirs = _files(copy), _files(release)
    if ours.keys() != theirs.keys():
        return False
    for rel, st in ours.items():
        other = theirs[rel]
        if (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino):
            continue
        if st.st_mode != other.st_mode or st.st_size != other.st_size:
            return False
        if stat.S_ISLNK(st.st_mode):
            if os.readlink(copy / rel) != os.readlink(release / rel):
                return False
        elif file_sha256(copy / rel) != file_sha256(release / rel):
            return False
    return True
