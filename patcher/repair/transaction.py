"""All-or-nothing changes to an install's files, with a journal that survives a crash.

Where: `<cache>/installs/<key>/` (key: sha256 of the install's real path) holds
`manifest.json` and `backup/<relative path>` (the originals, with their modes). Nothing is
written outside the install root, the state dir and this cache.

The manifest is the journal. It is written (atomically) before the first file changes,
with `"state": "applying"` or `"rolling-back"`, the sha256 of every original and patched
file; it says `"applied"` once every file is in place. Every command first recovers an
interrupted transaction: an apply that did not finish is undone (each file restored from
its backup when it holds the patched or a half state), a rollback that did not finish is
completed. So after a kill at any step the install is pristine or applied, never a mix,
and running the command again completes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patcher.cache.layout import INSTALLS, install_lock
from patcher.cache.scratch import is_scratch
from patcher.errors import RefusedError
from patcher.files.atomic import fsync_dir, replace_file, temp_path
from patcher.files.atomic import remove_temp_files as remove_temp_files_in
from patcher.files.reading import NotReadable, read_regular
from patcher.files.validation import problems

MANIFEST_SCHEMA = "openclaw-patcher/manifest/1"
# Test hooks: SIGKILL this process at the Nth write step or the step of that name (the
# crash sweep); sleep this
# many seconds at every step (the concurrency tests widen the windows between writes).
KILL_AT_ENV = "OPENCLAW_PATCHER_KILL_AT_STEP"
SLOW_ENV = "OPENCLAW_PATCHER_SLOW_STEPS"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install_key(root: Path) -> str:
    return sha256(str(root.resolve()).encode())[:16]


class Drifted(RefusedError):
    """A patched file changed since the patch (an upgrade, a hand edit)."""


@dataclass
class Steps:
    """Counts write steps; the crash-safety test kills the process at a chosen one."""

    count: int = 0

    def step(self, what: str) -> None:
        self.count += 1
        target = os.environ.get(KILL_AT_ENV, "")
        if target == what or (target.isdigit() and int(target) == self.count):
            os.kill(os.getpid(), signal.SIGKILL)
        if os.environ.get(SLOW_ENV):
            time.sleep(float(os.environ[SLOW_ENV]))


class InstallRecord:
    """The manifest and backups of one install in the cache."""

    def __init__(self, cache: Path, root: Path) -> None:
        self.root = root.resolve()
        self.cache = cache
        self.dir = cache / INSTALLS / install_key(self.root)
        self.manifest_path = self.dir / "manifest.json"
        self.backup_dir = self.dir / "backup"

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The install's lock: every command that may write the install or its record. The
        tool's own scratch copies (one process each) need none."""
        if is_scratch(self.root, self.cache):
            return contextlib.nullcontext()
        return install_lock(self.cache, self.dir.name, self.root)

    def load(self) -> dict[str, Any] | None:
        """The manifest, or None when there is none; a damaged one is refused by name."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RefusedError(
                f"{self.manifest_path} cannot be read ({exc}): reinstall the release and "
                "delete that folder."
            ) from exc

        found = problems(manifest, "manifest.schema.json")
        if found:
            raise RefusedError(
                f"{self.manifest_path} is damaged ({found[0].pointer}: {found[0].message}): "
                "reinstall the release and delete that folder."
            )
        return manifest

    def write(self, manifest: dict[str, Any], steps: Steps) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        steps.step("manifest")
        data = json.dumps(manifest, indent=2).encode()
        expected = self.manifest_path.read_bytes() if self.manifest_path.exists() else None
        replace_file(self.manifest_path, data, expected, 0o600)

    def remove(self, steps: Steps) -> None:
        steps.step("manifest removal")
        self.manifest_path.unlink(missing_ok=True)
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the install's folder, if nothing else is in it
            self.dir.rmdir()

    def backup_of(self, rel: str) -> Path:
        return self.backup_dir / rel


def safe_target(root: Path, rel: str) -> Path:
    """The file `rel` inside `root`, refusing any path that leaves it (.., symlinks)."""
    path = root / rel
    real = path.resolve()
    if not real.is_relative_to(root) or path.is_symlink():
        raise RefusedError(f"{path} leads outside {root} (a symlink?): refusing to write it.")
    return path


def _write_file(path: Path, content: bytes, expected: bytes, mode: int, steps: Steps) -> None:
    steps.step(f"write {path.name}")
    replace_file(path, content, expected, mode)


def _write_backup(backup: Path, original: bytes, mode: int) -> None:
    """A backup, durable before the install's file changes: a power loss must not leave a
    patched file with an empty backup."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(backup)
    try:
        with tmp.open("wb") as fh:
            fh.write(original)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, backup)
        fsync_dir(backup.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def apply_files(
    record: InstallRecord,
    changes: list[tuple[str, bytes, bytes]],
    meta: dict[str, Any],
    steps: Steps,
    final_state: str = "applied",
) -> dict[str, Any]:
    """Replace each (relative path, original, patched) file; all or nothing. The journal
    ends at `final_state`: "proving" while the caller still has to prove the change (a
    run killed before it says "applied" is undone by `recover`)."""
    root = record.root
    files = []
    for rel, original, patched in changes:
        path = safe_target(root, rel)
        files.append(
            {
                "path": rel,
                "mode": path.stat().st_mode & 0o7777,
                "original_sha256": sha256(original),
                "patched_sha256": sha256(patched),
            }
        )
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "state": "applying",
        "root": str(root),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "files": files,
    }
    record.write(manifest, steps)
    try:
        for (rel, original, _), entry in zip(changes, files, strict=True):
            steps.step(f"backup {rel}")
            _write_backup(record.backup_of(rel), original, entry["mode"])
    except BaseException:
        # No file of the install changed yet (a full cache disk, say): drop the record.
        shutil.rmtree(record.dir, ignore_errors=True)
        raise
    try:
        for (rel, original, patched), entry in zip(changes, files, strict=True):
            _write_file(root / rel, patched, original, entry["mode"], steps)
    except BaseException:
        rollback_files(record, manifest, steps, force=True)
        raise
    manifest["state"] = final_state
    record.write(manifest, steps)
    return manifest


def file_states(record: InstallRecord, manifest: dict[str, Any]) -> dict[str, str]:
    """Per file: "patched", "original" or "changed" (neither: drift)."""
    states = {}
    for entry in manifest["files"]:
        try:
            digest = sha256(read_regular(record.root / entry["path"]))
        except (OSError, NotReadable):
            states[entry["path"]] = "changed"
            continue
        if digest == entry["patched_sha256"]:
            states[entry["path"]] = "patched"
        elif digest == entry["original_sha256"]:
            states[entry["path"]] = "original"
        else:
            states[entry["path"]] = "changed"
    return states


def rollback_files(
    record: InstallRecord, manifest: dict[str, Any], steps: Steps, *, force: bool = False
) -> list[str]:
    """Restore every file byte-identical from its backup; refuse a file that drifted.

    With `force` (undoing our own interrupted apply) a file in an unknown state that is not
    the original is also restored, since we were the last to write it.
    """
    states = file_states(record, manifest)
    drifted = [p for p, s in states.items() if s == "changed"]
    if drifted and not force:
        raise Drifted(
            f"{record.root / drifted[0]} changed since it was patched (an upgrade or a hand "
            "edit): rollback refuses to overwrite it; reinstall the release instead."
        )
    # Every backup needed is read and checked before the first write: a damaged record
    # is refused with the install untouched, never after some files were restored.
    originals: dict[str, bytes] = {}
    for entry in manifest["files"]:
        rel = entry["path"]
        if states[rel] != "original":
            originals[rel] = checked_backup(record, entry)
            safe_target(record.root, rel)
    if not originals:  # every file is the release's already: only the record to drop
        record.remove(steps)
        return []
    if manifest.get("state") != "rolling-back":
        manifest = {**manifest, "state": "rolling-back"}
        record.write(manifest, steps)
    restored = []
    for entry in manifest["files"]:
        rel = entry["path"]
        if rel not in originals:
            continue
        path = safe_target(record.root, rel)
        _write_file(path, originals[rel], read_regular(path), entry["mode"], steps)
        restored.append(rel)
    record.remove(steps)
    return restored


def checked_backup(record: InstallRecord, entry: dict[str, Any]) -> bytes:
    """The backup of one file, refused by name when missing or not the recorded original."""
    backup = record.backup_of(entry["path"])
    try:
        original = backup.read_bytes()
    except OSError as exc:
        raise RefusedError(
            f"the backup {backup} cannot be read ({exc.strerror}): nothing was restored; "
            f"reinstall the release to restore {entry['path']}."
        ) from exc
    if sha256(original) != entry["original_sha256"]:
        raise RefusedError(
            f"the backup {backup} does not match its record: nothing was restored; "
            f"reinstall the release to restore {entry['path']}."
        )
    return original


def recover(record: InstallRecord, steps: Steps) -> str | None:
    """Finish what a killed command left: undo an apply (also one whose simulation never
    finished), complete a rollback. Called under the install's lock, so a journal that is
    not "applied" is one whose process is gone."""
    manifest = record.load()
    if manifest is None or manifest.get("state") == "applied":
        remove_temp_files(record, manifest)
        return None
    state = manifest.get("state")
    restored = rollback_files(record, manifest, steps, force=True)
    remove_temp_files(record, manifest)
    what = {
        "applying": "an interrupted apply",
        "proving": "an apply whose restart simulation never finished",
    }.get(str(state), "an interrupted rollback")
    return f"recovered {what}: {len(restored)} file(s) restored to the release"


def remove_temp_files(record: InstallRecord, manifest: dict[str, Any] | None) -> None:
    """Delete the temporary files a killed write of ours left: beside each file of the
    record, in the record's folder and among its backups (see patcher.files.atomic.TEMP_TAG)."""
    folders = {record.dir}
    for entry in (manifest or {}).get("files", []):
        rel = Path(entry["path"])
        remove_temp_files_in((record.root / rel).parent, rel.name)
        folders.add(record.backup_of(entry["path"]).parent)
    for folder in folders:
        remove_temp_files_in(folder)
