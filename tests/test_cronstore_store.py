"""The cron store library: shapes, validation, migration, backup, mode, compare-and-swap."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import REPO

import patcher.files.atomic
from patcher.cronstore.location import resolve_store
from patcher.cronstore.store import (
    InvalidStore,
    UnknownStoreVersion,
    check_file,
    inspect_store,
    migrate_store,
    running_job_ids,
)
from patcher.errors import RefusedError
from patcher.files.atomic import ChangedSinceRead

STORES = REPO / "fixtures" / "stores"


@pytest.fixture
def state_dir(tmp_path):
    """Copy a fixture store into a state dir, with OpenClaw's modes (dir 0700, files 0600)."""

    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(STORES / name, target)
        for path in target.rglob("*"):
            path.chmod(0o700 if path.is_dir() else 0o600)
        return target

    return make


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize(
    ("name", "kind"), [("inline", "json"), ("split", "json-split"), ("json5", "json")]
)
def test_fixture_stores_are_valid(state_dir, name, kind):
    report = inspect_store(resolve_store(state_dir(name)))
    assert report.kind == kind
    assert report.valid, [p for f in report.files for p in f.problems]


def test_running_ids_follow_the_loaders_merge(state_dir):
    inline = inspect_store(resolve_store(state_dir("inline")))
    assert running_job_ids(inline) == ["job-every", "job-at"]
    split = inspect_store(resolve_store(state_dir("split")))
    # job-deleted has a state entry but no job: the loader ignores it, so do we.
    assert running_job_ids(split) == ["job-every"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.json", "neither JSON nor JSON5"),
        ("not-utf8.json", "not UTF-8"),
    ],
)
def test_unreadable_files(name, message):
    checked = check_file(STORES / "malformed" / name)
    assert not checked.valid
    assert message in checked.error
    assert str(STORES / "malformed" / name) in checked.error


def test_problems_carry_pointers():
    checked = check_file(STORES / "malformed" / "bad-job.json")
    pointers = {p.pointer for p in checked.problems}
    assert {"/activeJobIds", "/jobs/0/payload", "/jobs/0/schedule/kind"} <= pointers
    state = check_file(STORES / "malformed" / "state-bad-types.json")
    assert state.role == "state"
    assert [p.pointer for p in state.problems] == ["/jobs/a/state/runningAtMs"]
    assert check_file(STORES / "malformed" / "jobs-not-array.json").problems[0].pointer == "/jobs"


def test_unknown_version_is_its_own_error():
    checked = check_file(STORES / "malformed" / "version-2.json")
    assert checked.version_error and "store version 2" in checked.version_error
    assert checked.problems == []


def test_nan_from_json5_is_a_problem(tmp_path):
    path = tmp_path / "jobs.json"
    path.write_text("{version: 1, jobs: [], x: NaN}")
    assert check_file(path).problems[0].message.startswith("holds NaN")


def test_migrate_inline_adds_the_field_and_keeps_everything(state_dir):
    root = state_dir("inline")
    jobs = root / "cron" / "jobs.json"
    before = json.loads(jobs.read_text())
    result = migrate_store(resolve_store(root))
    assert result.outcome == "migrated"
    assert result.active_job_ids == ["job-every", "job-at"]
    after = json.loads(jobs.read_text())
    assert after == {**before, "activeJobIds": ["job-every", "job-at"]}
    assert list(after) == ["version", "jobs", "activeJobIds"]
    # Same bytes as JSON.stringify(value, null, 2) wrote, plus the new field.
    assert jobs.read_bytes().startswith((STORES / "inline/cron/jobs.json").read_bytes()[:-4])
    assert stat.S_IMODE(jobs.stat().st_mode) == 0o600
    assert result.backup.read_bytes() == (STORES / "inline/cron/jobs.json").read_bytes()
    assert stat.S_IMODE(result.backup.stat().st_mode) == 0o600
    assert inspect_store(resolve_store(root)).valid


def test_migrate_split_writes_the_state_file_only(state_dir):
    root = state_dir("split")
    config_before = (root / "cron" / "jobs.json").read_bytes()
    result = migrate_store(resolve_store(root))
    assert result.path == root / "cron" / "jobs-state.json"
    assert (root / "cron" / "jobs.json").read_bytes() == config_before
    state = json.loads(result.path.read_text())
    assert state["activeJobIds"] == ["job-every"]
    assert set(state["jobs"]) == {"job-every", "job-cron", "job-deleted"}


def test_migrate_is_idempotent(state_dir):
    root = state_dir("inline")
    migrate_store(resolve_store(root))
    before = snapshot(root)
    again = migrate_store(resolve_store(root))
    assert again.outcome == "already-migrated"
    assert again.backup is None
    assert snapshot(root) == before


def test_dry_run_writes_nothing(state_dir):
    root = state_dir("split")
    before = snapshot(root)
    result = migrate_store(resolve_store(root), dry_run=True)
    assert (result.outcome, result.active_job_ids) == ("would-migrate", ["job-every"])
    assert snapshot(root) == before


def test_json5_is_rewritten_as_json_after_a_backup(state_dir):
    root = state_dir("json5")
    original = (root / "cron" / "jobs.json").read_bytes()
    result = migrate_store(resolve_store(root))
    assert result.rewritten_from_json5
    assert result.backup.read_bytes() == original
    data = json.loads((root / "cron" / "jobs.json").read_text())  # strict JSON now
    assert data["activeJobIds"] == ["job-hand"]
    assert data["jobs"][0]["schedule"] == {"kind": "every", "everyMs": 3600000}


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("bad-job.json", InvalidStore),
        ("truncated.json", InvalidStore),
        ("version-2.json", UnknownStoreVersion),
    ],
)
def test_invalid_stores_are_refused_untouched(tmp_path, name, error):
    (tmp_path / "cron").mkdir()
    shutil.copy(STORES / "malformed" / name, tmp_path / "cron" / "jobs.json")
    before = snapshot(tmp_path)
    with pytest.raises(error) as err:
        migrate_store(resolve_store(tmp_path))
    assert str(tmp_path / "cron" / "jobs.json") in str(err.value)
    assert snapshot(tmp_path) == before


def test_a_valid_config_with_an_invalid_state_file_is_refused(state_dir):
    root = state_dir("split")
    (root / "cron" / "jobs-state.json").write_text('{"version": 1, "jobs": {"x": {"state": []}}}')
    before = snapshot(root)
    with pytest.raises(InvalidStore, match=r"jobs-state\.json"):
        migrate_store(resolve_store(root))
    assert snapshot(root) == before


def test_compare_and_swap_refuses_when_the_gateway_wrote_meanwhile(state_dir, monkeypatch):
    root = state_dir("inline")
    jobs = root / "cron" / "jobs.json"
    real_replace = patcher.files.atomic.replace_file

    def gateway_writes_first(path, content, expected, mode):
        path.write_bytes(expected.replace(b"heartbeat digest", b"renamed by gateway"))
        return real_replace(path, content, expected, mode)

    monkeypatch.setattr("patcher.cronstore.store.replace_file", gateway_writes_first)
    with pytest.raises(ChangedSinceRead, match="changed while it was being migrated"):
        migrate_store(resolve_store(root))
    assert b"renamed by gateway" in jobs.read_bytes()  # the gateway's write survives
    assert b"activeJobIds" not in jobs.read_bytes()
    assert sorted(p.name for p in (root / "cron").iterdir()) == ["jobs.json"]  # no temp, no backup


def test_changed_since_read_is_a_refusal():
    assert issubclass(ChangedSinceRead, RefusedError)


def test_no_store_yet(tmp_path):
    assert inspect_store(resolve_store(tmp_path)).kind == "none"
    assert migrate_store(resolve_store(tmp_path)).outcome == "nothing-to-migrate"


def test_group_and_other_modes_are_kept(state_dir):
    root = state_dir("inline")
    jobs = root / "cron" / "jobs.json"
    jobs.chmod(0o640)
    migrate_store(resolve_store(root))
    assert stat.S_IMODE(jobs.stat().st_mode) == 0o640
    assert stat.S_IMODE(os.stat(root / "cron").st_mode) == 0o700
