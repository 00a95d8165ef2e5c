"""`tasks repair` on task registries written for the test, with the columns OpenClaw's
task_runs table has: each kind of evidence, none, another runtime, a locked database, a
corrupt one, a dry run and a second run."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from click.testing import CliRunner

from patcher.cli import main

TASK_RUNS = """CREATE TABLE task_runs (
  task_id TEXT PRIMARY KEY, runtime TEXT NOT NULL, task_kind TEXT, source_id TEXT,
  requester_session_key TEXT, owner_key TEXT NOT NULL, scope_kind TEXT NOT NULL,
  child_session_key TEXT, parent_flow_id TEXT, parent_task_id TEXT, agent_id TEXT,
  run_id TEXT, label TEXT, task TEXT NOT NULL, status TEXT NOT NULL,
  delivery_status TEXT NOT NULL, notify_policy TEXT NOT NULL, created_at INTEGER NOT NULL,
  started_at INTEGER, ended_at INTEGER, last_event_at INTEGER, cleanup_after INTEGER,
  error TEXT, progress_summary TEXT, terminal_summary TEXT, terminal_outcome TEXT)"""
LOST = "backing session missing"


def add_task(db, task_id, job, started, *, runtime="cron", status="lost", error=LOST):
    db.execute(
        "INSERT INTO task_runs (task_id, runtime, source_id, owner_key, scope_kind, run_id, "
        "task, status, delivery_status, notify_policy, created_at, started_at, ended_at, "
        "last_event_at, error) VALUES (?, ?, ?, '', 'system', ?, ?, ?, 'not_applicable', "
        "'silent', ?, ?, ?, ?, ?)",
        (task_id, runtime, job, f"cron:{job}:{started}", job, status, started, started,
         started + 400_000, started + 400_000, error),
    )  # fmt: skip


@pytest.fixture
def json_era(tmp_path):
    """A 2026.4.x state dir: tasks/runs.sqlite and cron/runs/<job>.jsonl run logs."""
    state = tmp_path / "state"
    (state / "tasks").mkdir(parents=True)
    (state / "cron" / "runs").mkdir(parents=True)
    db = sqlite3.connect(state / "tasks" / "runs.sqlite")
    db.execute(TASK_RUNS)
    add_task(db, "t-ok", "a", 1000)
    add_task(db, "t-timeout", "b", 2000)
    add_task(db, "t-error", "c", 3000)
    add_task(db, "t-state", "d", 4000)
    add_task(db, "t-none", "e", 5000)
    add_task(db, "t-skew", "g", 8000)
    add_task(db, "t-other-runtime", "f", 6000, runtime="subagent")
    add_task(db, "t-running", "a", 7000, status="running", error=None)
    db.commit()
    db.close()
    runs = state / "cron" / "runs"
    log = [
        {"ts": 1, "jobId": "a", "action": "finished", "status": "ok", "summary": "done",
         "runAtMs": 1000, "durationMs": 250},
        {"ts": 2, "jobId": "a", "action": "finished", "status": "ok", "runAtMs": 999_999,
         "durationMs": 1},
    ]  # fmt: skip
    (runs / "a.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log) + "not json\n")
    (runs / "b.jsonl").write_text(json.dumps({
        "action": "finished", "status": "error", "error": "cron: job execution timed out",
        "runAtMs": 2000, "durationMs": 3_600_000}) + "\n")  # fmt: skip
    (runs / "c.jsonl").write_text(json.dumps({
        "action": "finished", "status": "error", "error": "model refused",
        "runAtMs": 3000, "durationMs": 50}) + "\n")  # fmt: skip
    jobs = [
        {"id": j, "name": j, "enabled": True, "schedule": {"kind": "every", "everyMs": 60_000},
         "sessionTarget": "isolated", "wakeMode": "now",
         "payload": {"kind": "agentTurn", "message": "hi"}, "state": {}}
        for j in "abcdeg"
    ]  # fmt: skip
    jobs[3]["state"] = {"lastRunAtMs": 4000, "lastRunStatus": "ok", "lastDurationMs": 70}
    # A minute off: another run of the job, no evidence for this one.
    jobs[4]["state"] = {"lastRunAtMs": 5000 - 60_000, "lastRunStatus": "ok", "lastDurationMs": 70}
    # The store's marker read 35 ms before the record's start (two clock reads, 4.25 - 7.35).
    jobs[5]["state"] = {
        "lastRunAtMs": 8000 - 35, "lastRunStatus": "error", "lastDurationMs": 500,
        "lastError": "cron: job interrupted by gateway restart",
    }  # fmt: skip
    (state / "cron" / "jobs.json").write_text(json.dumps({"version": 1, "jobs": jobs}))
    return state


def run(state, *args, cache=None):
    cache = cache or state.parent / "cache"
    return CliRunner().invoke(
        main, ["--cache-dir", str(cache), "tasks", "repair", "--state-dir", str(state), *args]
    )


def rows(state, path="tasks/runs.sqlite"):
    with sqlite3.connect(state / path) as db:
        found = db.execute(
            "SELECT task_id, status, ended_at, error, terminal_summary FROM task_runs"
        ).fetchall()
    return {r[0]: r[1:] for r in found}


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_kind_of_evidence_restores_its_record_and_nothing_else_changes(json_era):
    before = rows(json_era)
    result = run(json_era, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["outcome"] == "repaired"
    after = rows(json_era)
    assert after["t-ok"] == ("succeeded", 1250, None, "done")
    assert after["t-timeout"] == ("timed_out", 3_602_000, "cron: job execution timed out", None)
    assert after["t-error"] == ("failed", 3050, "model refused", None)
    assert after["t-state"] == ("succeeded", 4070, None, None)  # from the job's state
    assert after["t-skew"] == ("failed", 8465, "cron: job interrupted by gateway restart", None)
    for untouched in ("t-none", "t-other-runtime", "t-running"):
        assert after[untouched] == before[untouched]
    assert [c["taskId"] for c in report["without_evidence"]] == ["t-none"]
    evidence = {c["taskId"]: c["evidence"] for c in report["restored"]}
    assert evidence["t-state"] == "job state" and evidence["t-ok"].startswith("run log ")
    backup = json_era / "tasks" / report["backup"].rsplit("/", 1)[1]
    assert rows(json_era, backup.relative_to(json_era)) == before  # SQLite's backup API

    again = run(json_era, "--json")
    assert again.exit_code == 0 and json.loads(again.output)["outcome"] == "nothing-to-repair"
    assert rows(json_era) == after


def test_a_dry_run_lists_and_writes_nothing(json_era):
    db = json_era / "tasks" / "runs.sqlite"
    before = digest(db)
    result = run(json_era, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would restore cron:a:1000: succeeded" in result.output
    assert "left lost (no evidence of its outcome): cron:e:5000" in result.output
    assert digest(db) == before and sorted(p.name for p in db.parent.iterdir()) == ["runs.sqlite"]


def test_the_sqlite_era_reads_the_run_log_table(tmp_path):
    state = tmp_path / "state"
    (state / "state").mkdir(parents=True)
    path = state / "state" / "openclaw.sqlite"
    db = sqlite3.connect(path)
    db.execute(TASK_RUNS)
    db.execute(
        "CREATE TABLE cron_run_logs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER "
        "NOT NULL, ts INTEGER NOT NULL, status TEXT, error TEXT, summary TEXT, run_at_ms INTEGER, "
        "duration_ms INTEGER)"
    )
    key = str((state / "cron" / "jobs.json").absolute())
    db.execute(
        "INSERT INTO cron_run_logs VALUES (?, 'a', 1, 9, 'skipped', NULL, 'nothing due', 1000, 5)",
        (key,),
    )
    db.execute(
        "INSERT INTO cron_run_logs VALUES ('/elsewhere', 'b', 1, 9, 'ok', NULL, NULL, 2000, 5)"
    )
    add_task(db, "t-a", "a", 1000)
    add_task(db, "t-b", "b", 2000)  # another store's log is no evidence for this one
    db.commit()
    db.close()
    result = run(state, "--json")
    assert result.exit_code == 0, result.output
    after = rows(state, "state/openclaw.sqlite")
    assert after["t-a"] == ("succeeded", 1005, None, "nothing due")
    assert after["t-b"][0] == "lost"


def test_a_locked_database_is_refused_and_left_as_it_was(json_era):
    db_path = json_era / "tasks" / "runs.sqlite"
    before = rows(json_era)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as the gateway holds it mid-write
    try:
        result = run(json_era)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 3, result.output
    assert "is locked by another process (is the gateway running?)" in result.output
    assert rows(json_era) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["runs.sqlite"]


def test_a_corrupt_database_is_exit_2_and_unchanged(json_era):
    db_path = json_era / "tasks" / "runs.sqlite"
    data = bytearray(db_path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's b-tree, past the header
    db_path.write_bytes(bytes(data))
    before = digest(db_path)
    result = run(json_era)
    assert result.exit_code == 2, result.output
    assert str(db_path) in result.output and "nothing was changed" in result.output
    assert digest(db_path) == before


def test_a_state_dir_without_a_task_registry_is_one_sentence(tmp_path):
    result = run(tmp_path)
    assert result.exit_code == 2 and "has no task registry" in result.output
