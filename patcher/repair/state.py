"""The patch state of an install: what its code carries and what its record says.

`pristine`, `applied`, `drifted` or `n/a`. Patched code is recognised by the markers of
the edits (patcher.detection.roles.MARKER_PREFIX) even where the record is missing.
"""

from __future__ import annotations

from pathlib import Path

from patcher.detection.detect import Detection, detect_installs
from patcher.detection.families import AFFECTED
from patcher.detection.install import Install
from patcher.repair.reports import DetectReport
from patcher.repair.transaction import InstallRecord, file_states


def marked_files(detection: Detection) -> list[str]:
    """The files (relative to the root) that hold a marker of openclaw-patcher's edits,
    in a role's file or not: patched code, whatever the record says."""
    root = detection.install.root
    return sorted({path.relative_to(root).as_posix() for path in detection.bundles.marked})


def patch_state(detection: Detection, record: InstallRecord) -> tuple[str, str]:
    """(`pristine`/`applied`/`drifted`/`n/a`, explanation) for an install."""
    manifest = record.load()
    if detection.verdict.status != AFFECTED:
        if manifest is not None:
            return "n/a", (
                f"the patch for {manifest.get('version')} is gone (the install is now "
                f"{detection.install.version}, {detection.verdict.status}): nothing to patch"
            )
        return "n/a", f"{detection.verdict.status}: nothing to patch"
    marked = marked_files(detection)
    if manifest is None:
        if marked:
            return "drifted", (
                f"applied, record missing: {detection.install.root / marked[0]} carries "
                "openclaw-patcher's repair, but this cache holds no record of it (deleted, or "
                "patched with another --cache-dir), so rollback cannot restore it; use the "
                "cache that patched it, or reinstall the release"
            )
        return "pristine", "affected and not patched"
    if manifest.get("state") != "applied":
        # A live apply or rollback (detect and --dry-run do not wait for its lock), or one
        # a kill interrupted: the next apply, status or rollback undoes or completes it.
        return "pristine", (
            f"an apply or rollback is in progress or was interrupted (journal state "
            f"{manifest.get('state')}): the next status, apply or rollback finishes it"
        )
    unrecorded = sorted(set(marked) - {e["path"] for e in manifest["files"]})
    if unrecorded:
        return "drifted", (
            f"{detection.install.root / unrecorded[0]} carries openclaw-patcher's repair but "
            f"the record in {record.manifest_path} does not list it: reinstall the release"
        )
    states = file_states(record, manifest)
    if all(s != "patched" for s in states.values()):
        # An upgrade replaced the files (or they were restored by hand): the patch is gone.
        return "pristine", (
            f"the patch is gone (patched {manifest.get('version')}, now "
            f"{detection.install.version}); this release needs it: run apply"
        )
    if all(s == "patched" for s in states.values()):
        return "applied", f"patched ({', '.join(manifest.get('specs', []))})"
    changed = [p for p, s in states.items() if s != "patched"]
    return "drifted", f"{detection.install.root / changed[0]} changed since it was patched"


def detect(installs: list[Install] | None, cache: Path) -> DetectReport:
    """Judge the installs (or those discovery finds), with each one's patch state as its
    code and its record say (no recovery: detect only reads)."""
    detections = detect_installs(installs)
    patches = [patch_state(d, InstallRecord(cache, d.install.root))[0] for d in detections]
    return DetectReport(detections, patches)
