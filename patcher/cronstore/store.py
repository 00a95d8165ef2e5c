"""The cron store: find its files, validate them, and migrate them to carry `activeJobIds`.

Store shapes (docs/release-families.md):
- `json` (through 2026.4.15): `cron/jobs.json`, each job with its runtime `state` inline;
- `json-split` (2026.4.20 – 5.28): `jobs.json` is configuration, `jobs-state.json` holds
  `{"version": 1, "jobs": {"<id>": {"updatedAtMs", "scheduleIdentity", "state"}}}`;
- `sqlite` (2026.6.1+): `state/openclaw.sqlite`, table `cron_jobs` (patcher/cronstore/sqlite.py).

`activeJobIds` goes into the file that holds runtime state: `jobs-state.json` when it
exists, else `jobs.json`. It is runtime state like `state.runningAtMs`, and it must sit
where the release's saver rewrites runtime state, so the repaired saver keeps it current.
The unpatched release drops unknown top-level fields on its next save and loads the file
without error either way, which keeps a rollback safe. In the SQLite era it is a row of
its own in the state database (see patcher/cronstore/sqlite.py for where and why).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patcher.cronstore import sqlite as sqlite_store
from patcher.cronstore.location import StoreLocation
from patcher.cronstore.model import Migration
from patcher.errors import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, RefusedError, UsageError
from patcher.files.atomic import remove_temp_files, replace_file, write_backup
from patcher.files.jsonio import Document, InvalidDocument, dumps, has_non_finite, read_document
from patcher.files.validation import Problem, problems

JOBS = "jobs"
STATE = "state"
SQLITE = "sqlite"
SCHEMA_OF = {JOBS: "cron-jobs.schema.json", STATE: "cron-jobs-state.schema.json"}
ACTIVE_JOB_IDS = "activeJobIds"


class UnknownStoreVersion(RefusedError):
    """A store file with a `version` this tool does not know (a newer OpenClaw's format)."""


class InvalidStore(UsageError):
    """A store file that does not validate; nothing is written."""


@dataclass
class StoreFile:
    """One file of the store, parsed and checked."""

    role: str  # JOBS or STATE
    path: Path
    document: Document | None = None
    error: str | None = None  # unreadable or unparseable: one sentence
    version_error: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.error is None and self.version_error is None and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "path": str(self.path),
            "format": self.document.format if self.document else None,
            "valid": self.valid,
            "error": self.error or self.version_error,
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass
class StoreReport:
    """What a state dir's cron store holds."""

    location: StoreLocation
    kind: str  # "json", "json-split", "sqlite", or "none"
    files: list[StoreFile] = field(default_factory=list)
    sqlite: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return all(f.valid for f in self.files)

    @property
    def version_errors(self) -> list[str]:
        return [f.version_error for f in self.files if f.version_error]

    @property
    def exit_code(self) -> int:
        """`store validate`: 0 valid, 2 invalid or unreadable, 3 a store version unknown."""
        if self.version_errors:
            return EXIT_REFUSED
        return EXIT_OK if self.valid else EXIT_USAGE

    def envelope(self) -> dict[str, Any]:
        return {"schema": "openclaw-patcher/store-validate/1", **self.to_json()}

    @property
    def runtime_file(self) -> StoreFile | None:
        """The file that holds runtime state, and so `activeJobIds`."""
        by_role = {f.role: f for f in self.files}
        return by_role.get(STATE) or by_role.get(JOBS)

    def to_json(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.location.state_dir),
            "store": str(self.location.jobs_path),
            "found_by": self.location.source,
            "kind": self.kind,
            "valid": self.valid,
            "files": [f.to_json() for f in self.files],
            "sqlite": self.sqlite,
        }


def _role_of(document_value: Any, path: Path) -> str:
    if isinstance(document_value, dict) and isinstance(document_value.get("jobs"), dict):
        return STATE
    if isinstance(document_value, dict) and isinstance(document_value.get("jobs"), list):
        return JOBS
    return STATE if path.name.endswith("-state.json") else JOBS


def check_file(path: Path, role: str | None = None) -> StoreFile:
    """Read, version-check and validate one store file."""
    try:
        document = read_document(path)
    except InvalidDocument as exc:
        return StoreFile(role or _role_of(None, path), path, error=str(exc))
    role = role or _role_of(document.value, path)
    checked = StoreFile(role, path, document)
    value = document.value
    version = value.get("version") if isinstance(value, dict) else None
    if isinstance(value, dict) and "version" in value and version != 1:
        checked.version_error = (
            f"{path} has store version {version!r}, which this tool does not know "
            "(a newer OpenClaw wrote it?): upgrade openclaw-patcher or leave the store as it is."
        )
        return checked
    if has_non_finite(value):
        checked.problems.append(Problem("", "holds NaN or Infinity, which JSON cannot carry"))
    checked.problems.extend(problems(value, SCHEMA_OF[role]))
    return checked


def inspect_store(location: StoreLocation) -> StoreReport:
    """Find and check every file of the store at `location`."""
    jobs, state = location.jobs_path, location.state_path
    files = [check_file(jobs, JOBS)] if jobs.exists() else []
    if state.exists():
        files.append(check_file(state, STATE))
    if files:
        kind = "json-split" if state.exists() else "json"
        return StoreReport(location, kind, files)
    if location.sqlite_path.exists():
        facts, found = sqlite_store.inspect(location.sqlite_path, sqlite_store.store_key(location))
        checked = StoreFile(
            SQLITE,
            location.sqlite_path,
            error=facts.get("error"),
            version_error=facts.get("unknown_schema"),
            problems=found,
        )
        return StoreReport(location, "sqlite", [checked], sqlite=facts)
    return StoreReport(location, "none")


def check_single_file(path: Path) -> StoreReport:
    """`store validate --file`: one file, its role read from its content."""
    if not path.is_file():
        raise UsageError(f"{path} is not a file: pass --file a jobs.json or jobs-state.json.")
    checked = check_file(path)
    location = StoreLocation(path.parent, path, None, "--file")
    return StoreReport(location, "json-split" if checked.role == STATE else "json", [checked])


def runtime_states(report: StoreReport) -> dict[str, Any]:
    """job id -> effective runtime state, as the release's loader merges the two files."""
    by_role = {f.role: f.document.value for f in report.files if f.document}
    jobs = by_role.get(JOBS, {}).get("jobs", []) if isinstance(by_role.get(JOBS), dict) else []
    entries = by_role.get(STATE, {}).get("jobs", {}) if STATE in by_role else {}
    states: dict[str, Any] = {}
    for job in jobs:
        if not isinstance(job, dict):
            continue
        job_id = job.get("id") or job.get("jobId")
        if not isinstance(job_id, str) or not job_id.strip():
            continue
        entry = entries.get(job_id) if isinstance(entries, dict) else None
        if isinstance(entry, dict) and "state" in entry:
            states[job_id] = entry.get("state")
        else:
            states[job_id] = job.get("state")
    return states


def running_job_ids(report: StoreReport) -> list[str]:
    """Ids of the jobs whose `state.runningAtMs` is set: the runs in flight when it was saved."""
    ids = []
    for job_id, state in runtime_states(report).items():
        running = state.get("runningAtMs") if isinstance(state, dict) else None
        is_number = isinstance(running, (int, float)) and not isinstance(running, bool)
        if is_number and math.isfinite(running) and job_id not in ids:
            ids.append(job_id)
    return ids


def ensure_valid(report: StoreReport) -> None:
    """Raise for an unknown version (exit 3) or an invalid file (exit 2), naming the file."""
    if report.version_errors:
        raise UnknownStoreVersion(report.version_errors[0])
    for f in report.files:
        if f.error:
            raise InvalidStore(f.error)
        if f.problems:
            first = f.problems[0]
            more = f" and {len(f.problems) - 1} more problem(s)" if len(f.problems) > 1 else ""
            raise InvalidStore(
                f"{f.path} is not a valid cron store: {first.pointer or '/'}: "
                f"{first.message}{more}; "
                "run 'openclaw-patcher store validate' for the list, fix the file, and retry."
            )


def migrate_store(location: StoreLocation, *, dry_run: bool = False) -> Migration:
    """Add `activeJobIds` to the runtime-state file of the store at `location`.

    Idempotent: a file that already carries a valid `activeJobIds` is left alone. An invalid
    store is refused untouched. The original is backed up before the atomic rewrite, and the
    rewrite is refused if the file changed since it was read.
    """
    if not dry_run:  # what a killed migrate of ours left beside the store files
        for path in (location.jobs_path, location.state_path):
            remove_temp_files(path.parent, path.name)
    report = inspect_store(location)
    if report.kind == "none":
        return Migration(None, "nothing-to-migrate", [])
    ensure_valid(report)
    if report.kind == "sqlite":
        if not (report.sqlite or {}).get("cron_jobs"):
            return Migration(None, "nothing-to-migrate", [], kind="sqlite")

        ids = list((report.sqlite or {}).get("running_job_ids", []))
        return sqlite_store.migrate(
            location, sqlite_store.store_key(location), ids, dry_run=dry_run
        )
    target = report.runtime_file
    if target is None or target.document is None:  # ensure_valid let nothing unreadable pass
        raise InvalidStore(f"{location.jobs_path} could not be read: run store validate.")
    value = target.document.value
    if ACTIVE_JOB_IDS in value:
        return Migration(
            target.path, "already-migrated", list(value[ACTIVE_JOB_IDS]), kind=report.kind
        )

    ids = running_job_ids(report)
    migrated = {**value, ACTIVE_JOB_IDS: ids}
    json5 = target.document.format == "json5"
    _refuse_link(target.path)
    real = target.path.parent.resolve()
    through = real if real != target.path.parent.absolute() else None
    if dry_run:
        return Migration(target.path, "would-migrate", ids, None, json5, report.kind, through)
    content = dumps(migrated)
    backup = write_backup(target.path, target.document.raw, target.document.mode)
    try:
        replace_file(target.path, content, target.document.raw, target.document.mode)
    except BaseException:
        backup.unlink(missing_ok=True)  # nothing changed: no backup to keep
        raise
    return Migration(target.path, "migrated", ids, backup, json5, report.kind, through)


def _refuse_link(path: Path) -> None:
    """A store file that is a symlink is left alone: OpenClaw's own save (write a temporary
    file, rename it over the path) would replace the link by a regular file, and so would
    ours, silently cutting it off from its target. A symlinked folder is written through,
    as OpenClaw writes through it."""
    if path.is_symlink():
        raise RefusedError(
            f"{path} is a symlink (to {os.readlink(path)}): migrate will not replace the link "
            "by a file, as a save would; replace the link by the file it points to, or pass "
            "--state-dir the folder that holds the real file, then retry."
        )
