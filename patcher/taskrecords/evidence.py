"""Durable evidence of a cron run's real outcome, as the release itself keeps it.

- The cron run log: one `finished` entry per run, `runAtMs` the run's start. JSON era:
  `<store dir>/runs/<jobId>.jsonl` beside `jobs.json`; SQLite era (2026.6.1+): table
  `cron_run_logs` of the state database, keyed by the store key.
- Else the job's runtime state, where its last run is the record's run (`lastRunAtMs`
  equals the record's start): `lastRunStatus` / `lastStatus`, `lastDurationMs`, `lastError`.

A record's start is its `started_at`; a run's start in the evidence is `runAtMs` or
`lastRunAtMs`. Most paths read the clock once for both; some read it twice when a run
starts (the store's running marker first, then the record: 2026.4.25 – 7.35's timer and
startup paths, 1 – 40 ms apart), so an entry within SKEW_MS of the record's start is its
run when no entry matches exactly. A job's runs are its interval apart (a minute and more
in practice), so a second run never lies that close.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from patcher.cronstore import sqlite
from patcher.cronstore.location import StoreLocation
from patcher.cronstore.store import inspect_store, runtime_states
from patcher.errors import PatcherError
from patcher.files.reading import NotReadable, read_regular

# What OpenClaw writes for a run that hit its timeout (timeoutErrorMessage()).
TIMEOUT_ERROR = "cron: job execution timed out"
# How much of one job's run log is read (OpenClaw keeps 2,000 lines per job by default).
MAX_LOG_BYTES = 64 << 20
# The farthest apart the two clock reads of one run start have been seen, with room.
SKEW_MS = 1_000


@dataclass(frozen=True)
class Outcome:
    """What really happened to one run, and where that was read."""

    status: str  # the task status it maps to: succeeded, failed, timed_out
    ended_at: int
    error: str | None
    summary: str | None
    source: str  # "run log <path>", "run log table cron_run_logs", "job state"


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def task_status(run_status: Any, error: Any) -> str | None:
    """The task status a cron run's status maps to, as the release finishes its records:
    ok and skipped succeeded, an error failed (timed_out for the timeout error)."""
    if run_status in ("ok", "skipped"):
        return "succeeded"
    if run_status == "error":
        return "timed_out" if _text(error) == TIMEOUT_ERROR else "failed"
    return None


def _outcome(
    started_at: int, run_status: Any, duration: Any, error: Any, summary: Any, source: str
) -> Outcome | None:
    status = task_status(run_status, error)
    took = _number(duration)
    if status is None or took is None or took < 0:
        return None
    return Outcome(
        status, started_at + took, _text(error) if status != "succeeded" else None,
        _text(summary), source,
    )  # fmt: skip


class Evidence:
    """The run logs and job states of one cron store, read once each."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self._logs: dict[str, list[dict[str, Any]]] = {}
        self._states: dict[str, Any] | None = None

    def outcome(self, job_id: str, started_at: int) -> Outcome | None:
        """The run of `job_id` that started at `started_at`, finished: from its run log
        entry, else from the job's state; the exact start first, then the nearest within
        SKEW_MS; None without evidence."""
        candidates: list[tuple[int, int, Outcome]] = []  # (distance, source rank, outcome)
        for entry in self._log(job_id):
            at = _number(entry.get("runAtMs"))
            if entry.get("action", "finished") != "finished" or at is None:
                continue
            found = _outcome(
                at,
                entry.get("status"),
                entry.get("durationMs"),
                entry.get("error"),
                entry.get("summary"),
                entry["__source"],
            )
            if found is not None:
                candidates.append((abs(at - started_at), 0, found))
        state = self._state_of(job_id)
        at = _number(state.get("lastRunAtMs")) if isinstance(state, dict) else None
        if at is not None:
            found = _outcome(
                at,
                state.get("lastRunStatus", state.get("lastStatus")),
                state.get("lastDurationMs"),
                state.get("lastError"),
                None,
                "job state",
            )
            if found is not None:
                candidates.append((abs(at - started_at), 1, found))
        near = sorted((c for c in candidates if c[0] <= SKEW_MS), key=lambda c: c[:2])
        return near[0][2] if near else None

    def _log(self, job_id: str) -> list[dict[str, Any]]:
        if job_id not in self._logs:
            self._logs[job_id] = self._json_log(job_id) + self._table_log(job_id)
        return self._logs[job_id]

    def _json_log(self, job_id: str) -> list[dict[str, Any]]:
        if "/" in job_id or "\\" in job_id or job_id in (".", ".."):
            return []  # never a path outside the runs folder
        path = self.location.jobs_path.parent / "runs" / f"{job_id}.jsonl"
        try:
            data = read_regular(path, limit=MAX_LOG_BYTES)
        except (OSError, NotReadable):
            return []
        entries = []
        for line in data.decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append({**entry, "__source": f"run log {path}"})
        return entries

    def _table_log(self, job_id: str) -> list[dict[str, Any]]:
        path = self.location.sqlite_path
        if not path.is_file() or sqlite.unusable_file(path):
            return []
        try:
            with contextlib.closing(sqlite.connect_read_only(path)) as db:
                if "cron_run_logs" not in sqlite.table_names(db):
                    return []
                rows = db.execute(
                    "SELECT status, error, summary, run_at_ms, duration_ms FROM cron_run_logs "
                    "WHERE store_key = ? AND job_id = ? ORDER BY seq",
                    (sqlite.store_key(self.location), job_id),
                ).fetchall()
        except sqlite3.Error:
            return []  # evidence is optional: a record without it is left as it is
        source = f"run log table cron_run_logs of {path}"
        keys = ("status", "error", "summary", "runAtMs", "durationMs")
        return [{**dict(zip(keys, row, strict=True)), "__source": source} for row in rows]

    def _state_of(self, job_id: str) -> Any:
        if self._states is None:
            self._states = self._read_states()
        return self._states.get(job_id)

    def _read_states(self) -> dict[str, Any]:
        states: dict[str, Any] = {}
        # An unreadable or invalid store is no evidence: the record stays as it is.
        with contextlib.suppress(PatcherError, OSError, ValueError):
            states.update(runtime_states(inspect_store(self.location)))
        path = self.location.sqlite_path
        if path.is_file() and not sqlite.unusable_file(path):
            with (
                contextlib.suppress(sqlite3.Error, ValueError),
                contextlib.closing(sqlite.connect_read_only(path)) as db,
            ):
                if "cron_jobs" in sqlite.table_names(db):
                    rows = db.execute(
                        "SELECT job_id, state_json FROM cron_jobs WHERE store_key = ?",
                        (sqlite.store_key(self.location),),
                    ).fetchall()
                    for job_id, state_json in rows:
                        with contextlib.suppress(ValueError, TypeError):
                            states[job_id] = json.loads(state_json)
        return states
