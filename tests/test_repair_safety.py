"""Nothing lost, nothing half-done, on the synthetic 2026.4.14 bundle: two runs at once
(real processes), a tampered record, a kill while apply's simulation runs, temporary files
a killed write left, and file modes.

Every trial ends exactly pristine or exactly patched, with a record that says which.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BUNDLES, REPO

from patcher.cli import main
from patcher.repair.transaction import KILL_AT_ENV, SLOW_ENV, InstallRecord
from patcher.system.selfexec import own_command

SHAPE = BUNDLES / "2026.4.14-inline-json"


def digests(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "install"
    shutil.copytree(SHAPE, root)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    cache = tmp_path / "cache"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root, state, cache


def cli(cache: Path, *args: str):
    return CliRunner().invoke(main, ["--cache-dir", str(cache), *args])


def start(cache: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        own_command("--cache-dir", str(cache), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def apply_args(root: Path, state: Path, *extra: str) -> list[str]:
    return ["apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation", *extra]


def patch_state(cache: Path, root: Path) -> tuple[int, str]:
    result = cli(cache, "status", "--root", str(root), "--json")
    return result.exit_code, json.loads(result.output)["installs"][0]["patch"]


@pytest.fixture
def patched(env):
    root, state, cache = env
    pristine = digests(root)
    assert cli(cache, *apply_args(root, state)).exit_code == 0
    return root, state, cache, pristine, digests(root)


def test_two_applies_at_once_keep_the_patch(env):
    root, state, cache = env
    pristine = digests(root)
    for _trial in range(3):
        runs = [start(cache, *apply_args(root, state), **{SLOW_ENV: "0.05"}) for _ in range(2)]
        outs = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in runs]
        assert [code for code, _, _ in outs] == [0, 0], outs
        said = sorted("already applied" in out for _, out, _ in outs)
        assert said == [False, True], outs  # one applied, the other found it done
        assert patch_state(cache, root) == (0, "applied")
        assert cli(cache, "rollback", "--root", str(root)).exit_code == 0
        assert digests(root) == pristine


def test_apply_and_rollback_at_once_end_exactly_pristine_or_patched(env):
    root, state, cache = env
    pristine = digests(root)
    assert cli(cache, *apply_args(root, state)).exit_code == 0
    patched_files = digests(root)
    assert cli(cache, "rollback", "--root", str(root)).exit_code == 0
    for delay in (0.0, 0.1, 0.3):
        apply_run = start(cache, *apply_args(root, state), **{SLOW_ENV: "0.05"})
        time.sleep(delay)
        rollback_run = start(cache, "rollback", "--root", str(root), **{SLOW_ENV: "0.05"})
        assert apply_run.wait(60) == 0, apply_run.stderr.read()
        assert rollback_run.wait(60) == 0, rollback_run.stderr.read()
        code, state_now = patch_state(cache, root)
        assert (code, state_now) in ((0, "applied"), (1, "pristine"))
        assert digests(root) == (patched_files if state_now == "applied" else pristine)
        assert cli(cache, "rollback", "--root", str(root)).exit_code == 0
        assert digests(root) == pristine


def test_a_lock_held_by_a_live_run_is_waited_for_then_refused(env, monkeypatch):
    from patcher.cache.layout import install_lock

    root, state, cache = env
    monkeypatch.setenv("OPENCLAW_PATCHER_LOCK_WAIT", "0.5")
    record = InstallRecord(cache, root)
    with install_lock(cache, record.dir.name, record.root):
        result = cli(cache, *apply_args(root, state))
    assert result.exit_code == 3, result.output
    assert f"(pid {os.getpid()})" in result.output
    assert f"the install {root.resolve()} is being changed by another openclaw-patcher" in (
        result.output
    )
    assert "let it finish, then run the command again" in result.output
    assert cli(cache, *apply_args(root, state)).exit_code == 0  # the lock is free again


def test_a_lock_of_a_killed_run_is_taken_over(env):
    root, state, cache = env
    killed = start(cache, *apply_args(root, state), **{KILL_AT_ENV: "3"})
    assert killed.wait(60) == -9
    result = cli(cache, *apply_args(root, state))
    assert result.exit_code == 0 and "recovered an interrupted apply" in result.output
    assert patch_state(cache, root) == (0, "applied")


@pytest.mark.parametrize("damage", ["backup deleted", "backup changed"])
def test_a_damaged_backup_is_refused_before_any_file_is_restored(patched, damage):
    root, _state, cache, _pristine, patched_files = patched
    record = InstallRecord(cache, root)
    manifest = json.loads(record.manifest_path.read_text())
    assert len(manifest["files"]) >= 2
    last = record.backup_of(manifest["files"][-1]["path"])  # restored last: all checked first
    if damage == "backup deleted":
        last.unlink()
    else:
        last.write_bytes(last.read_bytes() + b"//")
    result = cli(cache, "rollback", "--root", str(root))
    assert result.exit_code == 3 and "nothing was restored" in result.output, result.output
    assert str(last) in result.output
    assert digests(root) == patched_files  # not one file restored
    assert json.loads(record.manifest_path.read_text())["state"] == "applied"


def test_a_deleted_record_is_seen_by_status_and_refused_by_rollback(patched):
    root, _state, cache, _pristine, patched_files = patched
    record = InstallRecord(cache, root)
    record.manifest_path.unlink()
    code, state = patch_state(cache, root)
    assert (code, state) == (3, "drifted")
    text = cli(cache, "status", "--root", str(root)).output
    assert "applied, record missing" in text
    result = cli(cache, "rollback", "--root", str(root))
    assert result.exit_code == 3 and "there is no record of the patch" in result.output
    assert digests(root) == patched_files


def test_a_record_missing_one_file_is_refused_by_rollback(patched):
    root, _state, cache, _pristine, patched_files = patched
    record = InstallRecord(cache, root)
    manifest = json.loads(record.manifest_path.read_text())
    dropped = manifest["files"].pop()
    record.manifest_path.write_text(json.dumps(manifest))
    assert patch_state(cache, root) == (3, "drifted")
    result = cli(cache, "rollback", "--root", str(root))
    assert result.exit_code == 3 and dropped["path"] in result.output, result.output
    assert "does not list it" in result.output
    assert digests(root) == patched_files


def test_a_set_user_id_mode_is_restored_as_it_was(env):
    root, state, cache = env
    target = root / "dist" / "store-S3.js"
    os.chmod(target, 0o4755)
    assert cli(cache, *apply_args(root, state)).exit_code == 0
    assert target.stat().st_mode & 0o7777 == 0o4755
    assert cli(cache, "rollback", "--root", str(root)).exit_code == 0
    assert target.stat().st_mode & 0o7777 == 0o4755


def test_a_kill_during_the_simulation_leaves_an_apply_to_undo(env):
    """apply is only "applied" once its restart simulation passed: killed during it, the
    next command finds an unproven apply and undoes it."""
    root, state, cache = env
    pristine = digests(root)
    args = ["apply", "--root", str(root), "--state-dir", str(state)]
    killed = start(cache, *args, **{KILL_AT_ENV: "simulation"})
    assert killed.wait(60) == -9
    manifest = json.loads(InstallRecord(cache, root).manifest_path.read_text())
    assert manifest["state"] == "proving"
    # detect does not recover (it waits for no lock): it must not call it applied.
    detected = cli(cache, "detect", "--root", str(root), "--json")
    assert json.loads(detected.output)["installs"][0]["patch"] == "pristine"
    result = cli(cache, "status", "--root", str(root))
    assert "recovered an apply whose restart simulation never finished" in result.output
    assert result.exit_code == 1 and "pristine" in result.output
    assert digests(root) == pristine


def test_recovery_removes_the_temporary_files_a_killed_write_left(env):
    root, state, cache = env
    pristine = digests(root)
    killed = start(cache, *apply_args(root, state), **{KILL_AT_ENV: "4"})
    assert killed.wait(60) == -9
    # What a kill inside a write leaves: our temporary file beside the target.
    ours = root / "dist" / f".store-S3.js.openclaw-patcher-{killed.pid}-1a2b3c4d.tmp"
    ours.write_text("half a file")
    foreign = root / "dist" / ".store-S3.js.12345.tmp"  # not ours: left alone
    foreign.write_text("someone else's")
    # A live run's (another cache, another user) is being written: left alone too.
    other = subprocess.Popen(["sleep", "60"])
    live = root / "dist" / f".store-S3.js.openclaw-patcher-{other.pid}-5e6f7a8b.tmp"
    live.write_text("being written")
    try:
        assert patch_state(cache, root) == (1, "pristine")
    finally:
        other.kill()
        other.wait()
    assert not ours.exists() and foreign.exists() and live.exists()
    foreign.unlink()
    live.unlink()
    assert digests(root) == pristine


WRITER = """
import json, os, sys, time
path, stop = sys.argv[1], sys.argv[2]
base = json.loads(open(path).read())
n = 0
while not os.path.exists(stop):
    n += 1
    base["jobs"][0]["name"] = f"rewritten {n}"
    tmp = f"{path}.{os.getpid()}.tmp"  # as OpenClaw saves: a temp file renamed over it
    with open(tmp, "w") as fh:
        fh.write(json.dumps(base, indent=2))
    os.replace(tmp, path)
    time.sleep(0.002 if n % 2 else 0.05)
"""


def test_migrate_against_a_writer_rewriting_the_store_in_a_loop(env, tmp_path):
    """The gateway saves jobs.json while migrate runs: each migrate either writes a whole
    migrated file or refuses with the store unchanged by it, never a mix or a stray file."""
    import sys

    _root, state, cache = env
    jobs = state / "cron" / "jobs.json"
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(jobs), str(stop)])
    outcomes: dict[int, int] = {}
    try:
        for _ in range(15):
            done = subprocess.run(
                own_command(
                    "--cache-dir",
                    str(cache),
                    "store",
                    "migrate",
                    "--state-dir",
                    str(state),
                    "--json",
                ),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode in (0, 3), done.stderr
            if done.returncode == 3:
                assert "changed while it was being migrated" in done.stderr, done.stderr
            outcomes[done.returncode] = outcomes.get(done.returncode, 0) + 1
            value = json.loads(jobs.read_text())  # always a whole file
            assert value["jobs"]
    finally:
        stop.write_text("")
        writer.wait(30)
    backups = sorted(p.name for p in jobs.parent.glob("jobs.json.openclaw-patcher-*.bak"))
    migrated = outcomes.get(0, 0)
    assert len(backups) <= migrated  # a refused migrate keeps no backup
    assert not list(jobs.parent.glob("*.openclaw-patcher-*.tmp"))
    print(f"\nmigrate against a writer: exit codes {outcomes}")
