"""`apply`, `status` and `rollback`: the repair of one install, as a transaction.

apply: detect, pick the specs for the release's family, plan (every edit exactly once, or
refuse), check that each patched file parses (`node --check`), write it all through the
journal of `patcher.repair.transaction`, migrate the store, then run the restart scenarios on the
patched install with a scratch state dir and roll everything back if they fail.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patcher.cache.content import is_cached_release
from patcher.cache.layout import store_lock
from patcher.cache.scratch import scratch
from patcher.cronstore.location import resolve_state_dir, resolve_store
from patcher.cronstore.store import migrate_store
from patcher.detection.detect import Detection, detect_install
from patcher.detection.families import AFFECTED, UNKNOWN
from patcher.detection.install import Install, open_install
from patcher.errors import PatcherError, RefusedError
from patcher.repair.plan import Plan, describe, parse_errors, plan, range_notes, specs_for
from patcher.repair.reports import Outcome, StatusRow
from patcher.repair.state import marked_files, patch_state
from patcher.repair.transaction import InstallRecord, Steps, apply_files, recover, rollback_files
from patcher.simulation.node import find_node
from patcher.simulation.restart import verify_root
from patcher.simulation.scenarios import side_summary
from patcher.system.processes import processes_running


class ReadOnlyInstall(RefusedError):
    """The install's files cannot be written by this user."""


def _node_check(files: dict[Path, str], node: Path, cache: Path) -> None:
    """Every patched file must parse: `node --check` on a copy beside a package.json of the
    same module type (the install's own files are not touched for this)."""
    with scratch(cache, "check") as tmp:
        for path, text in files.items():
            pkg = next(
                (p / "package.json" for p in path.parents if (p / "package.json").is_file()), None
            )
            folder = Path(tmp) / str(abs(hash(path)))
            folder.mkdir()
            if pkg is not None:
                (folder / "package.json").write_bytes(pkg.read_bytes())
            copy = folder / path.name
            copy.write_text(text, encoding="utf-8")
            done = subprocess.run(
                [str(node), "--check", str(copy)], capture_output=True, text=True, timeout=120
            )
            if done.returncode != 0:
                first = (done.stderr.strip().splitlines() or ["syntax error"])[-1]
                raise RefusedError(
                    f"the patched {path.name} does not parse ({first}): nothing was written."
                )


def can_write(path: Path) -> bool:
    """Whether this user may replace `path` (write the file, create a temp file beside it)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _writable(paths: list[Path]) -> None:
    for path in paths:
        if not can_write(path):
            raise ReadOnlyInstall(
                f"{path} is not writable by this user: rerun with the rights the install "
                "needs (for a system-wide npm prefix, sudo)."
            )


def running_gateways(root: Path, state_dir: Path | None = None) -> list[int]:
    """Pids of processes running this install's code (patcher.system.processes), counting
    renamed gateways on `state_dir` (default: the one the environment names)."""
    try:
        state = state_dir if state_dir is not None else resolve_state_dir()
    except PatcherError:
        state = None
    return processes_running(root, state)


def _gateway_note(root: Path, state_dir: Path | None = None) -> str:
    pids = running_gateways(root, state_dir)
    if not pids:
        return "no process from this install is running: the change takes effect at its next start"
    return (
        f"a gateway from this install is running (pid {', '.join(map(str, pids))}): "
        "restart it to load the change"
    )


def _plan_for(detection: Detection) -> tuple[list, Plan]:
    verdict = detection.verdict
    specs = specs_for(verdict.family, verdict.store)
    if not specs:
        raise RefusedError(
            f"no patch spec covers {detection.install.version} ({verdict.family}, "
            f"{verdict.store} store) yet: nothing was changed."
        )
    return specs, plan(detection.install.root, detection.bundles, specs, verdict.store)


def apply(
    root: Path,
    cache: Path,
    *,
    dry_run: bool = False,
    skip_simulation: bool = False,
    state_dir: Path | None = None,
    steps: Steps | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Repair the install at `root` (see the module docstring), holding its lock; the
    long stages are told to `progress` as they start."""
    install = open_install(root)
    if not dry_run and is_cached_release(install.root, cache):
        raise RefusedError(
            f"{install.root} is a release in openclaw-patcher's cache, the pristine reference "
            "that verify compares with: copy it elsewhere first (cp -a) and apply to the copy."
        )
    record = InstallRecord(cache, install.root)
    with record.lock():
        return _apply(install, record, cache, dry_run, skip_simulation, state_dir, steps, progress)


def _apply(
    install: Install,
    record: InstallRecord,
    cache: Path,
    dry_run: bool,
    skip_simulation: bool,
    state_dir: Path | None,
    steps: Steps | None,
    progress: Callable[[str], None],
) -> Outcome:
    steps = steps or Steps()
    if state_dir is not None:
        resolve_store(state_dir)  # a --state-dir that is none is refused before any write
    recovered = None if dry_run else recover(record, steps)
    progress(f"detecting the cron code of {install.root}")
    detection = detect_install(install)
    verdict = detection.verdict
    details: dict[str, Any] = {"recovered": recovered}
    if verdict.status == UNKNOWN:
        raise RefusedError(
            f"{install.root}: {verdict.reason}; apply refuses an unknown code shape."
        )
    if verdict.status != AFFECTED:
        message = f"{verdict.status}: nothing to patch"
        return Outcome(install.root, install.version, "not-applicable", message, details)
    specs, the_plan = _plan_for(detection)
    details["specs"] = [describe(s) for s in specs]
    details["notes"] = [*verdict.notes, *range_notes(specs, install.version)]
    if the_plan.applied:
        state, why = patch_state(detection, record)
        if state != "applied":
            raise RefusedError(f"the install carries the patch but its record says {state}: {why}.")
        # A run killed after the files were in place may not have migrated the store yet.
        details["store"] = None if dry_run else _migrate_store(state_dir, cache, steps)
        details["gateway"] = _gateway_note(install.root, state_dir)
        message = "already applied: no byte changed"
        return Outcome(install.root, install.version, "already-applied", message, details)
    if dry_run:
        details["diff"] = the_plan.diff(install.root)
        message = "dry run: nothing written"
        return Outcome(install.root, install.version, "would-apply", message, details)
    meta = {"version": install.version, "family": verdict.family, "specs": [s.id for s in specs]}
    progress("checking and writing the patched files (backed up first)")
    manifest = _write_patch(install, record, cache, the_plan, meta, steps, skip_simulation)
    try:
        details["store"] = _migrate_store(state_dir, cache, steps)
        if not skip_simulation:
            progress("proving the repair: the restart simulation on the patched install")
            details["simulation"] = _prove(install, cache, steps, the_plan)
            record.write({**manifest, "state": "applied"}, steps)  # proven
    except BaseException:
        rollback_files(record, record.load() or {}, steps, force=True)
        raise
    details["gateway"] = _gateway_note(install.root, state_dir)
    return Outcome(install.root, install.version, "applied", "applied", details)


def _write_patch(
    install: Install,
    record: InstallRecord,
    cache: Path,
    the_plan: Plan,
    meta: dict[str, Any],
    steps: Steps,
    skip_simulation: bool,
) -> dict[str, Any]:
    """Check every patched file (writable, re-parses, `node --check`), then write them all
    through the journal; returns the manifest."""
    changed = [f for f in the_plan.files if f.original != f.patched]
    _writable([f.path for f in changed])
    if record.load() is not None:  # the record of a patch an upgrade has since replaced
        record.remove(steps)
    for f in changed:  # the patched file re-parses no worse than the original
        if parse_errors(f.patched) > parse_errors(f.original):
            raise RefusedError(f"the patched {f.path.name} does not re-parse: nothing was written.")
    node = find_node(install.engines_node, cache, install.root)
    _node_check({f.path: f.patched for f in changed}, node.path, cache)
    return apply_files(
        record,
        [
            (f.path.relative_to(install.root).as_posix(), f.original.encode(), f.patched.encode())
            for f in changed
        ],
        meta,
        steps,
        # Until the simulation has proven it, a kill leaves an apply to undo, not "applied".
        final_state="applied" if skip_simulation else "proving",
    )


def _prove(install: Install, cache: Path, steps: Steps, the_plan: Plan) -> dict[str, Any]:
    """The restart simulation on the patched install; raises (and the caller rolls back)
    when a scenario fails. As in real life, the gateway that last ran was unpatched: its
    store has no activeJobIds, and the patched code must derive them."""
    steps.step("simulation")
    side = verify_root(
        install.root,
        cache,
        None,
        patched=True,
        active_ids=the_plan.persists_active_ids,
        as_unpatched_store=True,
    )
    if not side.ok:
        raise PatcherError(
            f"the restart simulation failed on the patched install "
            f"({side_summary(side)}): every file was rolled back"
        )
    return side.to_json(pristine=False)


def _migrate_store(state_dir: Path | None, cache: Path, steps: Steps) -> dict[str, Any] | None:

    try:
        location = resolve_store(state_dir)
    except PatcherError:
        if state_dir is not None:
            raise
        return None  # no state dir on this machine: nothing to migrate
    if not location.state_dir.exists():
        return None
    steps.step("store")
    with store_lock(cache, location.state_dir):
        return migrate_store(location).to_json()


def rollback(root: Path, cache: Path, steps: Steps | None = None) -> Outcome:
    """Restore every patched file byte-identical; refuse when one drifted."""
    install = open_install(root)
    record = InstallRecord(cache, install.root)
    with record.lock():
        return _rollback(install, record, steps or Steps())


def _rollback(install: Install, record: InstallRecord, steps: Steps) -> Outcome:
    recovered = recover(record, steps)
    manifest = record.load()
    # Patched code the record does not cover (the record deleted, or an entry of it) is
    # refused before any write: a rollback of part of the repair would mix the install.
    marked = marked_files(detect_install(install))
    unrecorded = sorted(set(marked) - {e["path"] for e in (manifest or {}).get("files", [])})
    if unrecorded:
        where = (
            "there is no record of the patch"
            if manifest is None
            else (f"the record {record.manifest_path} does not list it")
        )
        raise RefusedError(
            f"{install.root / unrecorded[0]} carries openclaw-patcher's repair but {where}: "
            "nothing was restored; use the --cache-dir that patched it, or reinstall the release."
        )
    if manifest is None:
        message = recovered or "not patched: nothing to roll back"
        return Outcome(
            install.root, install.version, "not-patched", message, {"recovered": recovered}
        )
    restored = rollback_files(record, manifest, steps)
    details: dict[str, Any] = {"restored": restored, "recovered": recovered}
    details["gateway"] = _gateway_note(install.root)
    return Outcome(
        install.root, install.version, "rolled-back", f"restored {len(restored)} file(s)", details
    )


def status(root: Path, cache: Path, steps: Steps | None = None) -> StatusRow:
    """The patch state of one install, after recovering what a killed run left."""
    install = open_install(root)
    record = InstallRecord(cache, install.root)
    with record.lock():  # a live apply's journal is not a crash to recover
        recovered = recover(record, steps or Steps())
        detection = detect_install(install)
        state, why = patch_state(detection, record)
    return StatusRow(detection, state, why, recovered)
