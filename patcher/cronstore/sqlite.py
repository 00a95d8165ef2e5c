"""The SQLite cron store of 2026.6.1+: read-only checks, and where `activeJobIds` lives.

OpenClaw keeps its cron jobs in `state/openclaw.sqlite`, table `cron_jobs`, one row per job
keyed by the store key (the resolved `cron/jobs.json` path), runtime state in indexed
columns (`running_at_ms`, ...) plus `state_json`.

`activeJobIds` of a store lives in one row of the same database's `plugin_state_entries`
table: plugin_id `openclaw-patcher`, namespace `cron-active-jobs`, entry_key the store key,
value_json `{"version": 1, "activeJobIds": [...]}`. Why there:
- no schema change: every release from 2026.6.1 to 2026.9.6 creates that table with the same
  definition, and later releases validate their own cron, task and flow tables exactly
  ("older readers retain byte-compatible cron/task/flow table definitions"), so a column
  added to `cron_jobs` or a table of ours would be a liability, a row in a generic
  key-value table is not;
- OpenClaw reads and prunes only the rows of plugins it runs (and expired rows; ours never
  expire), so the release, a rollback and an upgrade to 2026.8+ all leave the row alone;
- it sits in the database the cron rows live in, so the patched saver writes it in the same
  transaction as the rows it summarises.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from patcher.cronstore.location import StoreLocation
from patcher.cronstore.model import Migration
from patcher.errors import RefusedError, UsageError
from patcher.files.atomic import backup_path, temp_path
from patcher.files.jsonio import MAX_DEPTH, nests_deeper
from patcher.files.validation import Problem, problems

PLUGIN_ID = "openclaw-patcher"
NAMESPACE = "cron-active-jobs"
ROW_SCHEMA = "cron-active-jobs-sqlite.schema.json"
# The columns of cron_jobs read here, as 2026.6.1 - 2026.7.35 create them.
CRON_COLUMNS = frozenset(
    {"store_key", "job_id", "job_json", "state_json", "running_at_ms", "sort_order"}
)
# The columns of plugin_state_entries the activeJobIds row is written with.
PLUGIN_STATE_COLUMNS = frozenset(
    {"plugin_id", "namespace", "entry_key", "value_json", "created_at", "expires_at"}
)
# A gateway's own transactions are short: wait this long for one, then refuse.
LOCK_WAIT_S = 1.0


class StoreLocked(RefusedError):
    """Another process (the gateway) holds the state database's write lock."""


def store_key(location: StoreLocation) -> str:
    """The key OpenClaw files this store's rows under: `path.resolve(storePath)`."""
    return os.path.normpath(os.path.abspath(location.jobs_path))


def _text(raw: bytes) -> str:
    # A damaged database can hold text that is not UTF-8: read it, never crash on it.
    return raw.decode("utf-8", "replace")


def connect_read_only(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
    db.text_factory = _text
    return db


def unusable_file(path: Path) -> str | None:
    """Why the file at `path` cannot be a state database, before SQLite opens it (a FIFO
    would block the open; an empty file reads as a database with no tables)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror}): check its permissions."
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file: put OpenClaw's state database back there."
    if st.st_size == 0:
        return (
            f"{path} is empty (0 bytes): the state database was lost or never written; "
            "restore it from a backup, or remove it and OpenClaw starts a new one."
        )
    return None


def integrity_problem(db: sqlite3.Connection) -> str | None:
    """SQLite's own `integrity_check` (not `quick_check`, which misses an index that lost
    rows): None when the database is sound, else its first findings."""
    rows = db.execute("PRAGMA integrity_check(3)").fetchall()
    return None if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:3])


def table_names(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _active_row(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute(
        "SELECT value_json FROM plugin_state_entries "
        "WHERE plugin_id = ? AND namespace = ? AND entry_key = ?",
        (PLUGIN_ID, NAMESPACE, key),
    ).fetchone()
    return row[0] if row else None


def _held(db: sqlite3.Connection, key: str) -> list[str] | None:
    """The ids the row holds; None when there is no row (an invalid row was refused before)."""
    if "plugin_state_entries" not in table_names(db):
        return None
    raw = _active_row(db, key)
    if raw is None:
        return None
    found: list[Problem] = []
    value = _json_object(raw, "/plugin_state_entries/activeJobIds", found)
    ids = value.get("activeJobIds") if isinstance(value, dict) else None
    if found or not isinstance(ids, list):
        raise UsageError(
            f"the activeJobIds row of {key} in the state database is not what "
            "openclaw-patcher writes: run store validate, and restore the database from a backup."
        )
    return [str(i) for i in ids]


def _json_object(raw: Any, pointer: str, found: list[Problem]) -> Any:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except RecursionError:
        found.append(Problem(pointer, f"is nested deeper than {MAX_DEPTH} levels"))
        return None
    except (TypeError, ValueError):
        found.append(Problem(pointer, "is not JSON"))
        return None
    if nests_deeper(value, MAX_DEPTH):
        found.append(Problem(pointer, f"is nested deeper than {MAX_DEPTH} levels"))
        return None
    if not isinstance(value, dict):
        found.append(Problem(pointer, "is not a JSON object"))
    return value


def _cron_rows(db: sqlite3.Connection, path: Path, key: str, facts: dict, found: list) -> None:
    """The store's cron_jobs rows: their count, the jobs running, what is malformed."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(cron_jobs)")}
    if not columns >= CRON_COLUMNS:
        facts["unknown_schema"] = (
            f"{path} has a cron_jobs table without {', '.join(sorted(CRON_COLUMNS - columns))}"
            " (a newer OpenClaw migrated it?): this tool knows the store of 2026.6.1 - "
            "2026.7.35; upgrade openclaw-patcher or leave the store as it is."
        )
        return
    rows = db.execute(
        "SELECT job_id, job_json, state_json, running_at_ms FROM cron_jobs "
        "WHERE store_key = ? ORDER BY sort_order, job_id",
        (key,),
    ).fetchall()
    facts["cron_jobs"] = len(rows)
    running = []
    for job_id, job_json, state_json, running_at in rows:
        where = f"/cron_jobs/{job_id}"
        _json_object(job_json, f"{where}/job_json", found)
        _json_object(state_json, f"{where}/state_json", found)
        if running_at is not None:
            if isinstance(running_at, int) and running_at >= 0:
                running.append(job_id)
            else:
                found.append(Problem(f"{where}/running_at_ms", "is not an epoch in ms"))
    facts["running_job_ids"] = running


def _active_row_facts(db: sqlite3.Connection, key: str, facts: dict, found: list) -> None:
    """The activeJobIds row of the store, checked against its schema."""
    value = _json_object(_active_row(db, key), "/plugin_state_entries/activeJobIds", found)
    if not isinstance(value, dict):
        facts["active_job_ids"] = None
        return
    found.extend(
        Problem(f"/plugin_state_entries/activeJobIds{p.pointer}", p.message)
        for p in problems(value, ROW_SCHEMA)
    )
    ids = value.get("activeJobIds")
    facts["active_job_ids"] = ids if isinstance(ids, list) else None


def inspect(path: Path, key: str) -> tuple[dict[str, Any], list[Problem]]:
    """Read-only facts about the store `key` in the database at `path`, and its problems."""
    facts: dict[str, Any] = {"path": str(path), "store_key": key}
    found: list[Problem] = []
    unusable = unusable_file(path)
    if unusable:
        facts["error"] = unusable
        return facts, found
    try:
        db = connect_read_only(path)
    except sqlite3.Error as exc:
        facts["error"] = f"{path} cannot be opened read-only ({exc}): check its permissions."
        return facts, found
    try:
        damage = integrity_problem(db)
        if damage:
            facts["error"] = (
                f"{path} fails SQLite's integrity check ({damage}): nothing reads or writes "
                "it here; restore it from a backup (OpenClaw's doctor may repair it)."
            )
            return facts, found
        tables = table_names(db)
        facts["tables"] = sorted(tables)
        if "cron_jobs" in tables:
            _cron_rows(db, path, key, facts, found)
        if "task_runs" in tables:
            facts["task_runs"] = db.execute("SELECT count(*) FROM task_runs").fetchone()[0]
        if "plugin_state_entries" in tables:
            _active_row_facts(db, key, facts, found)
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # a damaged schema: not UTF-8 even
        facts["error"] = f"{path} cannot be read ({exc}): is it an OpenClaw state database?"
    finally:
        db.close()
    return facts, found


def active_job_ids(path: Path, key: str) -> list[str] | None:
    """The persisted activeJobIds of store `key`, or None when there is no valid row."""
    facts, found = inspect(path, key)
    return None if found else facts.get("active_job_ids")


def delete_active_row(path: Path, key: str) -> None:
    """Remove the activeJobIds row: the store as an unpatched gateway leaves it."""
    with contextlib.closing(sqlite3.connect(path, timeout=LOCK_WAIT_S)) as db, db:
        db.execute(
            "DELETE FROM plugin_state_entries "
            "WHERE plugin_id = ? AND namespace = ? AND entry_key = ?",
            (PLUGIN_ID, NAMESPACE, key),
        )


def backup_database(db_path: Path) -> Path:
    """A consistent copy of the database (SQLite's backup API, WAL included), mode kept."""
    target = backup_path(db_path)
    tmp = temp_path(target)  # whole or not at all: copied under a temporary name, renamed
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, db_path.stat().st_mode & 0o777)
    os.close(fd)
    try:
        with (
            contextlib.closing(connect_read_only(db_path)) as src,
            contextlib.closing(sqlite3.connect(tmp)) as dst,
        ):
            src.backup(dst)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _writable_table(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a database without OpenClaw's plugin_state_entries table, as it creates it."""
    if "plugin_state_entries" not in table_names(db):
        raise RefusedError(
            f"{path} has no plugin_state_entries table, which OpenClaw 2026.6.1+ creates: "
            "start the gateway once with this release, stop it, and retry."
        )
    columns = {r[1] for r in db.execute("PRAGMA table_info(plugin_state_entries)")}
    if not columns >= PLUGIN_STATE_COLUMNS:
        raise RefusedError(
            f"{path} has a plugin_state_entries table without "
            f"{', '.join(sorted(PLUGIN_STATE_COLUMNS - columns))}, unlike every OpenClaw "
            "2026.6.1 - 2026.9.6: nothing was written; leave the store as it is."
        )


def begin_write(db: sqlite3.Connection, path: Path) -> None:
    """Take the write lock, after the integrity check: it reads the whole database, and the
    gateway must not wait that long (the row we add does not depend on the rest)."""
    damage = integrity_problem(db)
    if damage:
        raise UsageError(
            f"{path} fails SQLite's integrity check ({damage}): nothing was written; "
            "restore it from a backup."
        )
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreLocked(
            f"{path} is locked by another process (is the gateway running?): nothing was "
            "written; stop the gateway or run the command again."
        ) from exc


def _insert_row(db: sqlite3.Connection, key: str, ids: list[str]) -> None:
    value = json.dumps({"version": 1, "activeJobIds": ids}, separators=(",", ":"))
    db.execute(
        "INSERT INTO plugin_state_entries "
        "(plugin_id, namespace, entry_key, value_json, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, NULL)",
        (PLUGIN_ID, NAMESPACE, key, value, int(time.time() * 1000)),
    )


def migrate(location: StoreLocation, key: str, ids: list[str], *, dry_run: bool) -> Migration:
    """Write the activeJobIds row of store `key` (seeded with `ids`) unless it exists.

    Under the database's write lock (refused when the gateway holds it): read, back the
    database up, insert, commit. One transaction: a crash leaves the database as it was."""
    path = location.sqlite_path
    try:
        with contextlib.closing(connect_read_only(path)) as db:
            held = _held(db, key)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read ({exc}): run store validate.") from exc
    if held is not None:
        return Migration(path, "already-migrated", held, kind="sqlite")
    if dry_run:
        return Migration(path, "would-migrate", ids, kind="sqlite")
    try:
        db = sqlite3.connect(path, timeout=LOCK_WAIT_S, isolation_level=None)
        db.text_factory = _text
    except sqlite3.Error as exc:
        raise UsageError(f"{path} cannot be opened ({exc}): check its permissions.") from exc
    backup = None
    try:
        begin_write(db, path)
        _writable_table(db, path)
        held = _held(db, key)
        if held is not None:  # the gateway wrote it since our first look
            db.execute("ROLLBACK")
            return Migration(path, "already-migrated", held, kind="sqlite")
        backup = backup_database(path)
        _insert_row(db, key, ids)
        db.execute("COMMIT")
    except BaseException as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        if backup is not None:
            backup.unlink(missing_ok=True)  # nothing changed: no backup to keep
        if isinstance(exc, (sqlite3.Error, UnicodeDecodeError)):
            raise UsageError(f"{path} could not be written ({exc}): nothing was changed.") from exc
        raise
    finally:
        db.close()
    return Migration(path, "migrated", ids, backup, kind="sqlite")
