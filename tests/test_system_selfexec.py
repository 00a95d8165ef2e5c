"""The tool runs its own code only, whatever the working directory holds.

Every command is run as a user runs it (the installed `openclaw-patcher` script, a real
process) from a folder holding a hostile `patcher/` package whose import writes a marker
file. `matrix` starts a `verify` process per release; nothing may import that package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUNDLES, REPO, serve_bundle

from patcher.system.selfexec import own_command

SCRIPT = Path(sys.executable).parent / "openclaw-patcher"
HOSTILE = """import pathlib
pathlib.Path({marker!r}).write_text("the working directory's patcher ran")
raise SystemExit(7)
"""


@pytest.fixture
def hostile(tmp_path, fake_npm):
    """A working directory with a hostile `patcher/`, an npm serving two fixture releases,
    and a cache; returns (cwd, marker, cache, run)."""
    cwd = tmp_path / "work"
    marker = tmp_path / "MARKER"
    (cwd / "patcher").mkdir(parents=True)
    for name in ("__init__.py", "__main__.py", "cli.py"):
        (cwd / "patcher" / name).write_text(HOSTILE.format(marker=str(marker)))
    serve_bundle(fake_npm, BUNDLES / "2026.3.1-no-sweeper")
    cache = tmp_path / "cache"
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PYTHONPATH": ""}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(SCRIPT), "--cache-dir", str(cache), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert SCRIPT.is_file(), "the tests run on an installed openclaw-patcher"
    return cwd, marker, cache, run


def test_the_hostile_package_would_run_under_python_m(hostile):
    """The control: the folder really is hostile to `python -m patcher` (what matrix ran)."""
    cwd, marker, _cache, _run = hostile
    done = subprocess.run([sys.executable, "-m", "patcher", "--version"], cwd=cwd, check=False)
    assert done.returncode == 7 and marker.is_file()


def test_own_command_runs_this_code_from_any_directory(hostile):
    cwd, marker, _cache, _run = hostile
    done = subprocess.run(
        [*own_command("--version")], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "openclaw-patcher" in done.stdout
    assert not marker.exists()


def test_matrix_runs_its_verify_processes_from_its_own_code(hostile):
    _cwd, marker, _cache, run = hostile
    done = run("matrix", "--versions", "==2026.3.1", "--format", "json")
    assert not marker.exists(), done.stderr
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["releases"]
    assert row["ok"] is True and row["error"] is None  # verify ran, in the tool's own code
    assert "no task sweeper" in row["summary"]


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--release", "2026.3.1"),
        ("fetch", "2026.3.1"),
        ("detect", "--root", "{release}"),
        ("status", "--root", "{install}"),
        ("apply", "--root", "{install}", "--skip-simulation", "--state-dir", "{state}"),
        ("rollback", "--root", "{install}"),
        ("store", "validate", "--state-dir", "{state}"),
    ],
    ids=lambda args: args[0] if args[0] != "store" else "store-validate",
)
def test_every_command_runs_from_a_hostile_directory(hostile, tmp_path, args):
    _cwd, marker, _cache, run = hostile
    install = tmp_path / "install"
    shutil.copytree(BUNDLES / "2026.4.14-inline-json", install)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    fetched = run("fetch", "2026.3.1")
    assert fetched.returncode == 0, fetched.stderr
    values = {"release": fetched.stdout.strip(), "install": str(install), "state": str(state)}
    done = run(*(a.format(**values) for a in args))
    assert not marker.exists(), done.stderr
    assert done.returncode in (0, 1), done.stderr  # a verdict, not a refusal or a crash
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr


def test_a_real_matrix_whose_only_row_cannot_be_verified_exits_1(hostile, fake_npm):
    """verify in its own process cannot load the release's cron code (the synthetic bundle
    has no CronService to run): the row says why, and the matrix exits 1."""
    _cwd, marker, _cache, run = hostile
    serve_bundle(fake_npm, BUNDLES / "2026.4.14-inline-json")
    done = run("matrix", "--versions", "==2026.4.14", "--format", "json")
    assert done.returncode == 1, done.stderr
    (row,) = json.loads(done.stdout)["releases"]
    assert row["ok"] is False and "the harness needs CronService" in row["error"]
    assert "NOT VERIFIED" in done.stderr and not marker.exists()
