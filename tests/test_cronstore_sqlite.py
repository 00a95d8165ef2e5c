"""The SQLite cron store (2026.6.1+): read-only checks, the activeJobIds row, its migration."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from patcher.cli import main
from patcher.cronstore import sqlite as sqlite_store
from patcher.cronstore.location import resolve_store
from patcher.cronstore.store import InvalidStore, UnknownStoreVersion, inspect_store, migrate_store
from patcher.errors import RefusedError

# The tables as OpenClaw 2026.7.1 creates them, reduced to the columns read here.
SCHEMA = """
CREATE TABLE cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, job_json TEXT,
  state_json TEXT, running_at_ms INTEGER, sort_order INTEGER, PRIMARY KEY (store_key, job_id));
CREATE TABLE task_runs (task_id TEXT PRIMARY KEY);
CREATE TABLE plugin_state_entries (plugin_id TEXT NOT NULL, namespace TEXT NOT NULL,
  entry_key TEXT NOT NULL, value_json TEXT NOT NULL, created_at INTEGER NOT NULL,
  expires_at INTEGER, PRIMARY KEY (plugin_id, namespace, entry_key)) STRICT;
"""


def make_state(tmp_path: Path, rows=None, schema: str = SCHEMA) -> Path:
    """A state dir whose database holds `rows` (job_id, running_at_ms) under its store key."""
    state = tmp_path / "state-dir"
    (state / "state").mkdir(parents=True)
    key = str(state / "cron" / "jobs.json")
    db = sqlite3.connect(state / "state" / "openclaw.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    for order, (job_id, running) in enumerate(
        rows if rows is not None else [("a", 5), ("b", None)]
    ):
        db.execute(
            "INSERT INTO cron_jobs VALUES (?, ?, ?, ?, ?, ?)",
            (key, job_id, json.dumps({"id": job_id}), "{}", running, order),
        )
    db.commit()
    db.close()
    (state / "state" / "openclaw.sqlite").chmod(0o600)
    return state


def database(state: Path) -> Path:
    return state / "state" / "openclaw.sqlite"


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


def test_inspection_is_read_only_and_reports_the_store(tmp_path):
    state = make_state(tmp_path)
    before = database(state).read_bytes()
    report = inspect_store(resolve_store(state))
    assert report.kind == "sqlite" and report.valid
    facts = report.sqlite
    assert facts["store_key"] == str(state / "cron" / "jobs.json")
    assert (facts["cron_jobs"], facts["running_job_ids"], facts["task_runs"]) == (2, ["a"], 0)
    assert facts["active_job_ids"] is None  # not migrated yet
    assert database(state).read_bytes() == before


def test_rows_of_other_stores_are_not_this_stores(tmp_path):
    state = make_state(tmp_path)
    with sqlite3.connect(database(state)) as db:
        db.execute("INSERT INTO cron_jobs VALUES ('/elsewhere/jobs.json', 'x', '{}', '{}', 9, 0)")
    assert inspect_store(resolve_store(state)).sqlite["running_job_ids"] == ["a"]


def test_problems_name_the_row_and_column_and_migrate_refuses(tmp_path):
    state = make_state(tmp_path)
    with sqlite3.connect(database(state)) as db:
        db.execute("UPDATE cron_jobs SET state_json = 'not json' WHERE job_id = 'b'")
        db.execute(
            "INSERT INTO plugin_state_entries VALUES (?, ?, ?, ?, 0, NULL)",
            (
                sqlite_store.PLUGIN_ID,
                sqlite_store.NAMESPACE,
                str(state / "cron" / "jobs.json"),
                '{"version": 1, "activeJobIds": [3]}',
            ),
        )
    report = inspect_store(resolve_store(state))
    pointers = [p.pointer for p in report.files[0].problems]
    assert pointers == [
        "/cron_jobs/b/state_json",
        "/plugin_state_entries/activeJobIds/activeJobIds/0",
    ]
    before = dump(database(state))
    with pytest.raises(InvalidStore, match=re.escape(str(database(state)))):
        migrate_store(resolve_store(state))
    assert dump(database(state)) == before


def test_migrate_writes_the_row_after_a_backup_and_is_idempotent(tmp_path):
    state = make_state(tmp_path)
    location = resolve_store(state)
    before = dump(database(state))
    assert migrate_store(location, dry_run=True).outcome == "would-migrate"
    assert dump(database(state)) == before
    assert not list(database(state).parent.glob("*.bak"))

    done = migrate_store(location)
    assert (done.outcome, done.active_job_ids, done.kind) == ("migrated", ["a"], "sqlite")
    assert dump(done.backup) == before  # the backup is the database as it was
    assert done.backup.stat().st_mode & 0o777 == 0o600
    assert inspect_store(location).sqlite["active_job_ids"] == ["a"]
    assert sqlite_store.active_job_ids(database(state), sqlite_store.store_key(location)) == ["a"]
    after = dump(database(state))
    assert [line for line in after if line not in before] == [
        line for line in after if line.startswith('INSERT INTO "plugin_state_entries"')
    ]  # nothing else changed: one row added

    again = migrate_store(location)
    assert (again.outcome, again.active_job_ids) == ("already-migrated", ["a"])
    assert dump(database(state)) == after
    assert len(list(database(state).parent.glob("*.bak"))) == 1


def test_migrate_refuses_while_the_gateway_holds_the_write_lock(tmp_path):
    state = make_state(tmp_path)
    before = dump(database(state))
    gateway = sqlite3.connect(database(state), isolation_level=None)
    gateway.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite_store.StoreLocked, match="is the gateway running"):
            migrate_store(resolve_store(state))
    finally:
        gateway.execute("ROLLBACK")
        gateway.close()
    assert dump(database(state)) == before
    assert not list(database(state).parent.glob("*.bak"))  # no backup of a change not made


def test_a_database_without_the_plugin_state_table_is_refused(tmp_path):
    schema = SCHEMA.split("CREATE TABLE plugin_state_entries")[0]
    state = make_state(tmp_path, schema=schema)
    with pytest.raises(RefusedError, match="no plugin_state_entries table"):
        migrate_store(resolve_store(state))
    assert not list(database(state).parent.glob("*.bak"))


def test_a_newer_cron_jobs_table_is_a_store_it_does_not_know(tmp_path):
    newer = SCHEMA.replace("running_at_ms INTEGER, ", "")  # 2026.8.1+ drop the column
    state = make_state(tmp_path, rows=[], schema=newer)
    report = inspect_store(resolve_store(state))
    assert "a newer OpenClaw migrated it?" in report.version_errors[0]
    with pytest.raises(UnknownStoreVersion, match="upgrade openclaw-patcher"):
        migrate_store(resolve_store(state))
    result = CliRunner().invoke(main, ["store", "validate", "--state-dir", str(state)])
    assert result.exit_code == 3


def test_an_empty_store_has_nothing_to_migrate(tmp_path):
    state = make_state(tmp_path, rows=[])
    assert migrate_store(resolve_store(state)).outcome == "nothing-to-migrate"


def test_removing_the_row_gives_the_store_an_unpatched_gateway_leaves(tmp_path):
    state = make_state(tmp_path)
    location = resolve_store(state)
    migrate_store(location)
    sqlite_store.delete_active_row(database(state), sqlite_store.store_key(location))
    assert inspect_store(location).sqlite["active_job_ids"] is None


def test_the_spec_writes_the_row_this_module_reads():
    helper = (
        REPO
        / "patcher"
        / "repair"
        / "specs"
        / "cron-active-jobs-sqlite"
        / "store-active-ids-helper.js"
    )
    text = helper.read_text()
    assert f'__patcher_ACTIVE_JOBS_PLUGIN = "{sqlite_store.PLUGIN_ID}"' in text
    assert f'__patcher_ACTIVE_JOBS_NAMESPACE = "{sqlite_store.NAMESPACE}"' in text
    assert "{ version: 1, activeJobIds: [...new Set(ids)] }" in text


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_validate_and_migrate(tmp_path):
    state = make_state(tmp_path)
    result = run("store", "validate", "--state-dir", str(state))
    assert result.exit_code == 0, result.output
    assert "openclaw.sqlite" in result.output and "valid" in result.output
    result = run("store", "migrate", "--state-dir", str(state))
    assert result.exit_code == 0, result.output
    assert f"migrated: added activeJobIds (a) to {database(state)}" in result.output
    payload = json.loads(run("store", "validate", "--state-dir", str(state), "--json").output)
    assert payload["sqlite"]["active_job_ids"] == ["a"] and payload["valid"]


def test_cli_migrate_refusal_is_one_sentence_and_exit_3(tmp_path):
    state = make_state(tmp_path)
    gateway = sqlite3.connect(database(state), isolation_level=None)
    gateway.execute("BEGIN IMMEDIATE")
    try:
        result = run("store", "migrate", "--state-dir", str(state))
    finally:
        gateway.execute("ROLLBACK")
        gateway.close()
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert "is locked by another process" in result.output
