"""The schemas against reality: a release's own CronService writes its store, we validate it.

For each release, the harness (patcher/simulation/store_writer.mjs) makes the real
CronService add jobs of every schedule and payload kind, run some (ok and failing), and
snapshots the store files while a run is in flight and after. Every file must validate.
Then `store migrate` adds activeJobIds and the same release must still load the store.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from patcher.cache.releases import fetch_release
from patcher.cronstore.location import StoreLocation
from patcher.cronstore.store import check_file, inspect_store, migrate_store
from patcher.simulation.harness import prepare, run_harness, scratch_env

pytestmark = pytest.mark.release

STORE_RELEASES = {"2026.4.14": "json", "2026.4.22": "json-split", "2026.5.7": "json-split"}


@pytest.mark.parametrize(("version", "kind"), sorted(STORE_RELEASES.items()))
def test_release_writes_stores_that_validate(version, kind, release_cache):
    prepared = prepare(
        fetch_release(version, release_cache), ["CronService"], release_cache, version
    )
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        env = scratch_env(scratch)
        store = scratch / "state" / "cron" / "jobs.json"
        settings = {"storePath": str(store), "snapshotDir": str(scratch / "snapshots")}
        run = run_harness(prepared.node, "store_writer.mjs", prepared.symbols, settings, env)
        kinds = {(j["schedule"], j["payload"]) for j in run.result["jobs"]}
        assert {s for s, _ in kinds} == {"at", "every", "cron"}
        assert {p for _, p in kinds} == {"agentTurn", "systemEvent"}

        written = sorted(scratch.glob("snapshots/*/*.json")) + sorted(store.parent.glob("*.json"))
        assert written, "the release wrote no store"
        for path in written:
            checked = check_file(path)
            assert checked.valid, (path, checked.error, checked.problems)
        running = [
            p for p in written if "runningAtMs" in p.read_text() and "running-" in p.parent.name
        ]
        assert running, "no snapshot caught a run in flight"
        assert inspect_store(StoreLocation(scratch / "state", store, None, "test")).kind == kind

        # Migrated, the store still validates and the same release still loads every job.
        location = StoreLocation(scratch / "state", store, None, "test")
        migration = migrate_store(location)
        assert migration.outcome == "migrated"
        assert inspect_store(location).valid
        data = json.loads(migration.path.read_text())
        assert data["activeJobIds"] == []  # nothing was running when the writer stopped
        loaded = run_harness(
            prepared.node, "store_reader.mjs", prepared.symbols, {"storePath": str(store)}, env
        )
        assert loaded.result["ids"] == sorted(j["id"] for j in run.result["jobs"])

        # A store saved mid-run seeds activeJobIds with the job in flight, and still loads.
        snapshot = running[0].parent
        in_flight = snapshot.name.split("-running-", 1)[1]
        mid_run = scratch / "mid-run" / "cron"
        mid_run.mkdir(parents=True)
        for path in snapshot.glob("*.json"):
            (mid_run / path.name).write_bytes(path.read_bytes())
        location = StoreLocation(mid_run.parent, mid_run / "jobs.json", None, "test")
        assert migrate_store(location).active_job_ids == [in_flight]
        loaded = run_harness(
            prepared.node,
            "store_reader.mjs",
            prepared.symbols,
            {"storePath": str(mid_run / "jobs.json")},
            env,
        )
        assert in_flight in loaded.result["ids"]


SQLITE_RELEASES = ("2026.6.1", "2026.7.1")


@pytest.mark.parametrize("version", SQLITE_RELEASES)
def test_sqlite_release_writes_a_store_that_validates_and_migrates(version, release_cache):
    """2026.6.1+: the store is state/openclaw.sqlite; each snapshot is a consistent copy."""
    prepared = prepare(
        fetch_release(version, release_cache), ["CronService"], release_cache, version
    )
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        env = scratch_env(scratch)
        store = scratch / "state" / "cron" / "jobs.json"
        settings = {"storePath": str(store), "snapshotDir": str(scratch / "snapshots")}
        run = run_harness(prepared.node, "store_writer.mjs", prepared.symbols, settings, env)
        ids = sorted(j["id"] for j in run.result["jobs"])

        snapshots = sorted(p.parent.parent for p in scratch.glob("snapshots/*/state/*.sqlite"))
        assert snapshots, "the release wrote no SQLite store"
        for snap in snapshots:
            report = inspect_store(StoreLocation(snap, store, None, "test"))
            assert report.kind == "sqlite" and report.valid, (snap, report.files[0].problems)
        running = [s for s in snapshots if "-running-" in s.name]
        assert running, "no snapshot caught a run in flight"

        # The live store: migrated once, then already migrated; the release still loads it.
        location = StoreLocation(scratch / "state", store, None, "test")
        migration = migrate_store(location)
        assert migration.outcome == "migrated" and migration.active_job_ids == []
        assert migration.backup is not None and migration.backup.is_file()
        assert migrate_store(location).outcome == "already-migrated"
        report = inspect_store(location)
        assert report.valid and report.sqlite["active_job_ids"] == []
        loaded = run_harness(
            prepared.node, "store_reader.mjs", prepared.symbols, {"storePath": str(store)}, env
        )
        assert loaded.result["ids"] == ids

        # A store saved mid-run seeds activeJobIds with the job in flight, and still loads.
        snap = running[0]
        in_flight = snap.name.split("-running-", 1)[1]
        location = StoreLocation(snap, store, None, "test")
        assert migrate_store(location).active_job_ids == [in_flight]
        snap_env = {**env, "OPENCLAW_STATE_DIR": str(snap)}
        loaded = run_harness(
            prepared.node,
            "store_reader.mjs",
            prepared.symbols,
            {"storePath": str(store)},
            snap_env,
        )
        assert in_flight in loaded.result["ids"]
