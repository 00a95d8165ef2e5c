"""The crash sweep on real releases (2026.4.14, JSON store; 2026.7.1, SQLite store):
SIGKILL at every write step and at random moments of `apply` and `rollback` on a copy,
then `status` and `rollback` must find the install exactly pristine or exactly patched,
with no temporary file of ours left anywhere. And a kill while apply's restart simulation
runs: no Node process outlives the tool, the unproven apply is undone, its scratch goes.

CI runs every write step and a few random kills per release; `--crash-all` runs at least
100 random kills per release and command.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import REPO
from test_cronstore_sqlite import make_state

from patcher.cache.releases import fetch_release
from patcher.repair.transaction import KILL_AT_ENV
from patcher.system.selfexec import own_command

pytestmark = pytest.mark.release

VERSIONS = ("2026.4.14", "2026.7.1")


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and "node_modules" not in p.parts
    }


def temp_files(*folders: Path) -> list[str]:
    return [str(p) for f in folders for p in f.rglob("*.openclaw-patcher-*.tmp")]


@pytest.fixture(params=VERSIONS)
def env(request, tmp_path, release_cache):
    version = request.param
    release = fetch_release(version, release_cache)
    root = tmp_path / "install"
    shutil.copytree(release, root, symlinks=True)  # node_modules: the link to its deps
    if version == "2026.4.14":
        state = tmp_path / "state"
        shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    else:
        state = make_state(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    for shared in ("node", "deps"):  # Node builds and dependency installs, not records
        if (release_cache / shared).is_dir():
            (cache / shared).symlink_to(release_cache / shared)
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    return version, root, state, cache, env


def run(cache: Path, env: dict, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        own_command("--cache-dir", str(cache), *args),
        capture_output=True,
        text=True,
        env={**env, **extra},
        timeout=600,
        check=False,
    )


def start(cache: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        own_command("--cache-dir", str(cache), *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def judge(version, root, state, cache, env, pristine, patched) -> str:
    """After a kill: status recovers; the install is exactly one of the two; no temp file."""
    status = run(cache, env, "status", "--root", str(root), "--json")
    assert status.returncode in (0, 1), status.stderr
    patch = json.loads(status.stdout)["installs"][0]["patch"]
    now = files(root)
    assert patch in ("pristine", "applied"), (version, patch)
    assert now == (patched if patch == "applied" else pristine), (version, patch)
    assert temp_files(root, state, cache) == [], version
    return patch


def test_crash_sweep(env, request, capsys):
    version, root, state, cache, run_env = env
    apply = ["apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"]
    rollback = ["rollback", "--root", str(root)]
    pristine = files(root)
    assert run(cache, run_env, *apply).returncode == 0
    patched = files(root)
    assert run(cache, run_env, *rollback).returncode == 0 and files(root) == pristine

    counts = {"apply": 0, "rollback": 0}
    # Every write step of each command.
    for command in ("apply", "rollback"):
        if command == "rollback":
            assert run(cache, run_env, *apply).returncode == 0
        args = apply if command == "apply" else rollback
        step = 1
        while run(cache, run_env, *args, **{KILL_AT_ENV: str(step)}).returncode == -9:
            counts[command] += 1
            judge(version, root, state, cache, run_env, pristine, patched)
            assert run(cache, run_env, *args).returncode == 0  # running it again completes it
            if command == "rollback":
                assert run(cache, run_env, *apply).returncode == 0
            else:
                assert run(cache, run_env, *rollback).returncode == 0
            step += 1
        assert run(cache, run_env, *rollback).returncode == 0
    steps = dict(counts)
    assert steps["apply"] >= 4 and steps["rollback"] >= 3

    # Random moments: a kill anywhere in the command's run, the writes included.
    trials = 100 if request.config.getoption("--crash-all") else 4
    rng = random.Random(f"{version}-crash")
    took = {}
    for command, args in (("apply", apply), ("rollback", rollback)):
        if command == "rollback":
            assert run(cache, run_env, *apply).returncode == 0
        started = time.monotonic()
        assert run(cache, run_env, *args).returncode == 0
        took[command] = time.monotonic() - started
        assert run(cache, run_env, *(rollback if command == "apply" else apply)).returncode == 0
    states: dict[str, int] = {}
    for trial in range(trials):
        for command, args in (("apply", apply), ("rollback", rollback)):
            if command == "rollback":  # start from applied
                assert run(cache, run_env, *apply).returncode == 0
            proc = start(cache, run_env, *args)
            time.sleep(rng.uniform(0.1, took[command]))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            patch = judge(version, root, state, cache, run_env, pristine, patched)
            states[f"{command}->{patch}"] = states.get(f"{command}->{patch}", 0) + 1
            assert run(cache, run_env, *rollback).returncode == 0, trial
            assert files(root) == pristine
    with capsys.disabled():
        print(
            f"\n{version}: killed at each of {steps['apply']} apply and {steps['rollback']} "
            f"rollback write steps, and at {trials} random moments of each "
            f"({states}): exactly pristine or patched every time, no temp file left"
        )


def test_a_kill_during_the_simulation_leaves_no_node_process(env):
    version, root, state, cache, run_env = env
    pristine = files(root)
    proc = subprocess.Popen(
        own_command(
            "--cache-dir", str(cache), "apply", "--root", str(root), "--state-dir", str(state)
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=run_env,
    )
    harness = None
    deadline = time.monotonic() + 120
    while harness is None and time.monotonic() < deadline and proc.poll() is None:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if any(part.endswith("run.mjs") for part in child.cmdline()):
                    harness = child
            except psutil.Error:
                continue
        time.sleep(0.05)
    assert harness is not None, f"{version}: apply's simulation never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _gone, alive = psutil.wait_procs([harness], timeout=15)
    assert not alive, f"{version}: the harness outlived the tool"
    status = run(cache, run_env, "status", "--root", str(root))
    assert "recovered an apply whose restart simulation never finished" in status.stdout
    assert status.returncode == 1 and files(root) == pristine
    # The next run that needs scratch removes what the killed one left.
    assert (
        run(
            cache,
            run_env,
            "apply",
            "--root",
            str(root),
            "--state-dir",
            str(state),
            "--skip-simulation",
        ).returncode
        == 0
    )
    left = [p.name for p in (cache / "scratch").iterdir() if f"-{proc.pid}-" in p.name]
    assert left == [], left
