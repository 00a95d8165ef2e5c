"""The crash-safety and security tests of the repair, on a real SQLite-era release (2026.7.1):
SIGKILL at every write step of apply and rollback (store migration included), a symlink in
dist leading outside the install, a read-only install. The same tests on the synthetic JSON
bundle are in test_repair_commands.py."""

from __future__ import annotations

import shutil

import pytest
from test_cronstore_sqlite import make_state
from test_repair_commands import cli, digests, run_killed, state_of

from patcher.cache.releases import fetch_release
from patcher.cronstore.location import resolve_store
from patcher.cronstore.store import inspect_store
from patcher.detection.detect import detect_install
from patcher.detection.install import open_install

pytestmark = pytest.mark.release

VERSION = "2026.7.1"


@pytest.fixture
def env(tmp_path, release_cache, monkeypatch):
    """A copy of the release (no node_modules: --skip-simulation needs none), a SQLite
    store, and a fresh cache that shares the release cache's Node builds."""
    release = fetch_release(VERSION, release_cache)
    root = tmp_path / "install"
    shutil.copytree(release, root, ignore=shutil.ignore_patterns("node_modules"))
    state = make_state(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    if (release_cache / "node").is_dir():
        (cache / "node").symlink_to(release_cache / "node")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root, state, cache


def apply_args(root, state) -> list[str]:
    return ["apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"]


@pytest.mark.parametrize("command", ["apply", "rollback"])
def test_crash_safety_sigkill_at_every_write_step(env, command, capsys):
    root, state, cache = env
    pristine = digests(root)
    args = apply_args(root, state)
    if command == "rollback":
        assert cli(cache, *args).exit_code == 0
        args = ["rollback", "--root", str(root)]
    start = digests(root)
    step, kills = 1, 0
    while run_killed(cache, args, step) == -9:
        kills += 1
        assert state_of(cache, root) in ("pristine", "applied")
        assert digests(root) in (pristine, start) or state_of(cache, root) == "applied"
        assert run_killed(cache, args, 0) == 0
        assert state_of(cache, root) == ("applied" if command == "apply" else "pristine")
        if command == "apply":  # the run that completes migrates the SQLite store
            assert inspect_store(resolve_store(state)).sqlite["active_job_ids"] == ["a"]
        undo = ["rollback", "--root", str(root)] if command == "apply" else apply_args(root, state)
        assert run_killed(cache, undo, 0) == 0
        assert digests(root) == start
        step += 1
    # The last run, past every write step, completed the command: roll back (nothing to do
    # after rollback) and the copy is the release again.
    assert run_killed(cache, ["rollback", "--root", str(root)], 0) == 0
    assert digests(root) == pristine
    with capsys.disabled():
        print(f"\n{VERSION} {command}: killed at each of {kills} write steps, recovered every time")
    assert kills >= 4


def test_a_symlink_in_dist_leading_outside_is_refused(env, tmp_path):
    root, state, cache = env
    store_chunk = root / detect_install(open_install(root)).bundles.primaries("cron-store")[0].path
    outside = tmp_path / "outside.js"
    outside.write_bytes(store_chunk.read_bytes())
    store_chunk.unlink()
    store_chunk.symlink_to(outside)
    before = outside.read_bytes()
    result = cli(cache, *apply_args(root, state))
    assert result.exit_code == 3, result.output
    assert "leads outside" in result.output and store_chunk.name in result.output
    assert outside.read_bytes() == before
    assert inspect_store(resolve_store(state)).sqlite["active_job_ids"] is None


def test_read_only_install_is_refused_untouched(env, monkeypatch):
    root, state, cache = env
    monkeypatch.setattr("patcher.repair.commands.can_write", lambda path: False)
    before = digests(root)
    result = cli(cache, *apply_args(root, state))
    assert result.exit_code == 3
    assert "is not writable by this user: rerun with the rights the install needs" in result.output
    assert digests(root) == before
    assert inspect_store(resolve_store(state)).sqlite["active_job_ids"] is None
