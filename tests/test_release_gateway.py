"""`verify --gateway` on real releases: the real `openclaw gateway`, killed mid-run and
restarted with the clock six minutes on. CI: 2026.4.22 (JSON store) and 2026.7.1 (SQLite),
each a few minutes a side; and a check interrupted midway leaves no gateway behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psutil
import pytest
from click.testing import CliRunner

from patcher.cli import main
from patcher.gateway.verify import full_install
from patcher.system.selfexec import own_command

pytestmark = pytest.mark.release


@pytest.mark.parametrize("version", ["2026.4.22", "2026.7.1"])
def test_the_real_gateway_loses_the_run_pristine_and_keeps_it_repaired(version, release_cache):
    result = CliRunner().invoke(
        main,
        ["--cache-dir", str(release_cache), "verify", "--gateway", "--release", version, "--json"],
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    pristine, patched = report["pristine"], report["patched"]
    assert pristine["bug_reproduced"], json.dumps(pristine, indent=1)
    restart = pristine["scenarios"]["in_flight_restart"]
    assert any("backing session missing" in f for f in restart["failures"])
    assert patched is not None and patched["ok"], json.dumps(patched, indent=1)
    # The dead run ends with a reason, and the repaired gateway keeps working.
    notes = patched["scenarios"]["in_flight_restart"]["notes"]
    assert any("interrupted by gateway restart" in n for n in notes), notes
    assert patched["scenarios"]["keeps_working"]["passed"]
    assert report["rollback_identical"] is True and report["ok"] and result.exit_code == 0
    assert "network: a namespace with loopback only" in report["notes"]


def _gateways_of(scratch: str) -> list[psutil.Process]:
    """Processes of a gateway check: their environment names its clock file, under the
    cache's scratch (the gateway renames its process title, so not by command line)."""
    found = []
    for proc in psutil.process_iter():
        try:
            clock = proc.environ().get("OPENCLAW_PATCHER_CLOCK_FILE", "")
            if clock.startswith(scratch) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches a command started from a terminal: the check must not inherit a
    SIGINT the test process (a pytest-xdist worker, beside other tests) ignores or blocks;
    a check started with SIGINT ignored (a background job) rightly goes on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_an_interrupted_check_leaves_no_gateway(release_cache):
    root, _ = full_install("2026.4.22", release_cache, lambda _: None)
    proc = subprocess.Popen(
        own_command("--cache-dir", str(release_cache), "verify", "--gateway", "--root", str(root)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        waiting = 0
        for line in proc.stderr:
            waiting += "waiting for job R" in line  # a side's gateway A is up, its job added
            labelled = "pristine:" in line or "patched:" in line  # the sides run at once
            if waiting == 2 or (waiting and not labelled):
                break  # every side is there
        scratch = str(release_cache / "scratch")
        # This check's own: another check on the same cache may run beside it.
        descendants = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        mine = [p for p in _gateways_of(scratch) if p.pid in descendants]
        assert mine, "the check started no gateway"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            # A hang guard, not a time asked of it: the check gives its sides 30 s to stop.
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            said = proc.stderr.read()[-2000:]  # what it was doing when it did not stop
            pytest.fail(f"the check did not stop within 180 s of Ctrl-C; it said: {said}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(1)
    left = [p for p in mine if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == []
    assert proc.returncode != 0
