"""`tasks repair`: cron task records marked lost by #79196, restored from durable evidence.

The task registry is the release's own SQLite database: `tasks/runs.sqlite` (2026.3.31 –
5.28) or table `task_runs` of `state/openclaw.sqlite` (2026.6.1+). Only records of runtime
`cron`, status `lost`, error "backing session missing" are candidates; each gets the real
outcome of its run where the run log or the job's state shows it
(patcher.taskrecords.evidence), and the rest are listed and left as they are.

The write is what OpenClaw's own writes are: one `BEGIN IMMEDIATE` transaction (refused
with a sentence when the gateway holds the write lock), after SQLite's integrity check and
a backup through SQLite's backup API; each row is updated only while it is still the lost
record it was (so a second run, or a record the gateway changed meanwhile, changes nothing).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patcher.cronstore import sqlite
from patcher.cronstore.location import StoreLocation
from patcher.errors import RefusedError, UsageError
from patcher.taskrecords.evidence import Evidence, Outcome

LOST_REASON = "backing session missing"
# The columns read and written, as every release 2026.3.31 – 2026.9.6 creates task_runs.
COLUMNS = frozenset(
    {"task_id", "runtime", "source_id", "run_id", "status", "started_at", "ended_at", "error"}
)
SCHEMA = "openclaw-patcher/tasks-repair/1"


@dataclass
class Change:
    """One lost record and what its evidence says."""

    task_id: str
    run_id: str | None
    job_id: str | None
    started_at: int | None
    outcome: Outcome | None  # None: no evidence, left as it is

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "taskId": self.task_id,
            "runId": self.run_id,
            "jobId": self.job_id,
            "startedAt": self.started_at,
        }
        if self.outcome is not None:
            o = self.outcome
            out.update(status=o.status, endedAt=o.ended_at, error=o.error, evidence=o.source)
        return out


@dataclass
class RepairReport:
    database: Path
    dry_run: bool
    restored: list[Change] = field(default_factory=list)
    without_evidence: list[Change] = field(default_factory=list)
    backup: Path | None = None

    @property
    def outcome(self) -> str:
        if not self.restored:
            return "nothing-to-repair"
        return "would-repair" if self.dry_run else "repaired"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "database": str(self.database),
            "outcome": self.outcome,
            "dry_run": self.dry_run,
            "restored": [c.to_json() for c in self.restored],
            "without_evidence": [c.to_json() for c in self.without_evidence],
            "backup": str(self.backup) if self.backup else None,
        }


def task_database(location: StoreLocation) -> Path:
    """The database that holds this state dir's task registry; refused by name when none."""
    legacy = location.state_dir / "tasks" / "runs.sqlite"
    for path in (location.sqlite_path, legacy):
        if not path.exists():
            continue
        problem = sqlite.unusable_file(path)
        if problem:
            raise UsageError(problem)
        try:
            with contextlib.closing(sqlite.connect_read_only(path)) as db:
                if "task_runs" in sqlite.table_names(db):
                    return path
        except sqlite3.DatabaseError as exc:
            raise UsageError(
                f"{path} is not a readable SQLite database ({exc}): nothing was changed; "
                "restore it from a backup."
            ) from exc
    raise UsageError(
        f"{location.state_dir} has no task registry (tasks/runs.sqlite or a task_runs table "
        "in state/openclaw.sqlite): pass --state-dir the state dir of the gateway whose "
        "records to repair."
    )


def _lost_cron_records(db: sqlite3.Connection, path: Path) -> list[tuple]:
    columns = {r[1] for r in db.execute("PRAGMA table_info(task_runs)")}
    if not columns >= COLUMNS:
        raise RefusedError(
            f"{path} has a task_runs table without {', '.join(sorted(COLUMNS - columns))}, "
            "unlike every OpenClaw release this tool knows: nothing was changed."
        )
    return db.execute(
        "SELECT task_id, run_id, source_id, started_at FROM task_runs "
        "WHERE runtime = 'cron' AND status = 'lost' AND error = ? ORDER BY started_at, task_id",
        (LOST_REASON,),
    ).fetchall()


def _plan(location: StoreLocation, rows: list[tuple]) -> tuple[list[Change], list[Change]]:
    evidence = Evidence(location)
    restored, left = [], []
    for task_id, run_id, job_id, started_at in rows:
        known = isinstance(job_id, str) and isinstance(started_at, int)
        outcome = evidence.outcome(job_id, started_at) if known else None
        change = Change(task_id, run_id, job_id, started_at, outcome)
        (restored if outcome is not None else left).append(change)
    return restored, left


def _update(db: sqlite3.Connection, change: Change) -> int:
    o = change.outcome
    assert o is not None
    # Still the lost record it was: a record the gateway finished since is left alone.
    return db.execute(
        "UPDATE task_runs SET status = ?, ended_at = ?, last_event_at = ?, error = ?, "
        "terminal_summary = COALESCE(?, terminal_summary) "
        "WHERE task_id = ? AND runtime = 'cron' AND status = 'lost' AND error = ?",
        (o.status, o.ended_at, o.ended_at, o.error, o.summary, change.task_id, LOST_REASON),
    ).rowcount


def repair(location: StoreLocation, *, dry_run: bool) -> RepairReport:
    """Restore the lost cron records of the state dir's task registry that have evidence."""
    path = task_database(location)
    report = RepairReport(path, dry_run)
    try:
        with contextlib.closing(sqlite.connect_read_only(path)) as db:
            rows = _lost_cron_records(db, path)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path} cannot be read ({exc}): nothing was changed.") from exc
    report.restored, report.without_evidence = _plan(location, rows)
    if dry_run or not report.restored:
        return report
    try:
        db = sqlite3.connect(path, timeout=sqlite.LOCK_WAIT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise UsageError(f"{path} cannot be opened ({exc}): check its permissions.") from exc
    try:
        sqlite.begin_write(db, path)
        report.backup = sqlite.backup_database(path)
        done = [c for c in report.restored if _update(db, c)]
        db.execute("COMMIT")
    except BaseException as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        if report.backup is not None:
            report.backup.unlink(missing_ok=True)  # nothing changed: no backup to keep
            report.backup = None
        if isinstance(exc, sqlite3.DatabaseError):
            raise UsageError(f"{path} could not be written ({exc}): nothing was changed.") from exc
        raise
    finally:
        db.close()
    report.restored = done
    return report
