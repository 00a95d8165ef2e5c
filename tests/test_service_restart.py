"""apply --restart through fakes of the service managers: a systemd user unit and a launchd
agent that start the install are found by what they start, restarted with the exact
command their manager takes, and only once no cron run is in flight; a run held longer
than --wait refuses the restart and leaves the gateway running."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time

import psutil
import pytest
from click.testing import CliRunner
from conftest import BUNDLES

from patcher.cli import main
from patcher.service.managers import units_for
from patcher.system.processes import processes_running

# The fake manager: records its arguments, and for a restart ends the "gateway" (the pid
# in $GW_PID_FILE) and starts it again, as systemd or launchd would.
FAKE = """#!{python}
import json, os, signal, subprocess, sys
with open(os.environ["FAKE_CALLS"], "a") as fh:
    fh.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if "restart" in sys.argv or "kickstart" in sys.argv:
    pid_file = os.environ["GW_PID_FILE"]
    os.kill(int(open(pid_file).read()), signal.SIGKILL)
    gw = [os.environ["GW_NODE"], os.environ["GW_SCRIPT"]]
    out = subprocess.DEVNULL
    proc = subprocess.Popen(gw, start_new_session=True, stdout=out, stderr=out)
    open(pid_file, "w").write(str(proc.pid))
"""

# The fake gateway: answers /health on a loopback port of its own, as a gateway does.
HEALTH_SERVER = """import http from "node:http";
http.createServer((_, res) => res.end('{"ok":true,"status":"live"}')).listen(0, "127.0.0.1");
"""


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A copy of a repairable bundle, a "gateway" process running a file of it, a HOME for
    the unit files and fake managers first on PATH."""
    node = shutil.which("node")
    assert node, "the tests need a node binary on PATH"
    root = tmp_path / "install"
    shutil.copytree(BUNDLES / "2026.4.14-inline-json", root)
    script = root / "dist" / "gateway-fake.mjs"
    script.write_text(HEALTH_SERVER)
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    for name in ("systemctl", "launchctl"):
        fake = bin_dir / name
        fake.write_text(FAKE.format(python=sys.executable))
        fake.chmod(0o755)
    pid_file, calls = tmp_path / "gw.pid", tmp_path / "calls.jsonl"
    calls.touch()
    proc = subprocess.Popen([node, str(script)], start_new_session=True)
    pid_file.write_text(str(proc.pid))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for key, value in (("FAKE_CALLS", calls), ("GW_PID_FILE", pid_file), ("GW_NODE", node),
                       ("GW_SCRIPT", script)):  # fmt: skip
        monkeypatch.setenv(key, str(value))
    state = tmp_path / "state"
    (state / "cron").mkdir(parents=True)
    for _ in range(100):  # the process is up and runs the install's file
        if processes_running(root):
            break
        time.sleep(0.05)
    yield root, home, state, node, script, pid_file, calls
    with contextlib.suppress(ProcessLookupError):  # a test may have ended it already
        os.kill(int(pid_file.read_text()), 9)


def _calls(path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def apply(root, state, cache, *extra):
    return CliRunner().invoke(
        main,
        ["--cache-dir", str(cache), "apply", "--root", str(root), "--state-dir", str(state),
         "--skip-simulation", *extra],
    )  # fmt: skip


def test_a_systemd_user_unit_is_restarted_once_no_run_is_in_flight(machine, tmp_path):
    root, home, state, node, script, pid_file, calls = machine
    units = home / ".config" / "systemd" / "user"
    units.mkdir(parents=True)
    (units / "openclaw-gateway.service").write_text(
        f"[Service]\nExecStart={node} {script} gateway --port 18789\n"
    )
    (units / "other.service").write_text(f"[Service]\nExecStart={node} {script}\n")
    assert [u.name for u in units_for(root)] == ["openclaw-gateway.service"]
    before = int(pid_file.read_text())

    plain = apply(root, state, tmp_path / "cache-a")
    assert plain.exit_code == 0, plain.output
    # Without --restart: the exact command for this machine, and nothing is restarted.
    assert "systemctl --user restart openclaw-gateway.service" in plain.output
    assert _calls(calls) == [] and int(pid_file.read_text()) == before

    result = apply(root, state, tmp_path / "cache-a", "--restart", "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)["installs"][0]
    assert _calls(calls) == [["systemctl", "--user", "restart", "openclaw-gateway.service"]]
    steps = [s["step"] for s in outcome["restart"]["steps"]]
    assert steps == ["find", "wait", "restart", "check"] and outcome["restart"]["restarted"]
    assert "/health ok on port" in outcome["restart"]["steps"][-1]["detail"]
    assert int(pid_file.read_text()) != before


def test_a_launchd_agent_is_kickstarted(machine, tmp_path):
    import plistlib

    root, home, state, node, script, _, calls = machine
    agents = home / "Library" / "LaunchAgents"
    agents.mkdir(parents=True)
    plist = {"Label": "ai.openclaw.gateway", "ProgramArguments": [node, str(script), "gateway"]}
    (agents / "ai.openclaw.gateway.plist").write_bytes(plistlib.dumps(plist))
    result = apply(root, state, tmp_path / "cache-b", "--restart")
    assert result.exit_code == 0, result.output
    assert _calls(calls) == [
        ["launchctl", "kickstart", "-k", f"gui/{os.getuid()}/ai.openclaw.gateway"]
    ]


def test_a_run_held_longer_than_wait_refuses_the_restart(machine, tmp_path):
    root, home, state, node, script, pid_file, calls = machine
    units = home / ".config" / "systemd" / "user"
    units.mkdir(parents=True)
    (units / "openclaw-gateway.service").write_text(f"[Service]\nExecStart={node} {script}\n")
    job = {
        "id": "j1", "name": "j", "enabled": True,
        "schedule": {"kind": "every", "everyMs": 60000}, "sessionTarget": "isolated",
        "wakeMode": "now", "payload": {"kind": "agentTurn", "message": "hi"},
        "state": {"runningAtMs": 1},
    }  # fmt: skip
    (state / "cron" / "jobs.json").write_text(json.dumps({"version": 1, "jobs": [job]}))
    before = int(pid_file.read_text())
    result = apply(root, state, tmp_path / "cache-c", "--restart", "--wait", "1")
    assert result.exit_code == 3, result.output
    assert "still in flight after 1 s (jobs j1" in result.output
    assert "the gateway left running" in result.output
    assert _calls(calls) == [] and int(pid_file.read_text()) == before
    assert processes_running(root) == [before]


# A foreground gateway as OpenClaw runs one: SIGUSR1 makes it start a fresh copy of itself
# (a new pid, detached) and exit, as its restart with a fresh process does.
RESPAWNING_SERVER = """import http from "node:http";
import { spawn } from "node:child_process";
process.on("SIGUSR1", () => {
  spawn(process.execPath, process.argv.slice(1), { detached: true, stdio: "ignore" }).unref();
  process.exit(0);
});
http.createServer((_, res) => res.end('{"ok":true,"status":"live"}')).listen(0, "127.0.0.1");
"""


def test_a_foreground_gateway_gets_sigusr1_and_comes_back_in_a_new_process(machine, tmp_path):
    root, _, state, node, script, pid_file, calls = machine
    script.write_text(RESPAWNING_SERVER)
    os.kill(int(pid_file.read_text()), 9)
    proc = subprocess.Popen([node, str(script)], start_new_session=True)
    pid_file.write_text(str(proc.pid))
    for _ in range(100):  # listening
        if processes_running(root) and psutil.Process(proc.pid).net_connections("tcp"):
            break
        time.sleep(0.05)
    plain = apply(root, state, tmp_path / "cache-d")
    assert plain.exit_code == 0, plain.output
    assert f"kill -USR1 {proc.pid}" in plain.output  # no unit, no supervisor: foreground
    result = apply(root, state, tmp_path / "cache-d", "--restart", "--json")
    try:
        assert result.exit_code == 0, result.output
        restart = json.loads(result.output)["installs"][0]["restart"]
        assert restart["restarted"] and _calls(calls) == []  # no manager was asked
        assert (
            f"SIGUSR1 to the foreground gateway (pid {proc.pid})" in restart["steps"][2]["detail"]
        )
        assert "/health ok on port" in restart["steps"][-1]["detail"]
        assert proc.wait(timeout=10) == 0 and processes_running(root) != [proc.pid]
    finally:
        for pid in processes_running(root):
            os.kill(pid, 9)


def test_a_gateway_that_listens_nowhere_is_not_signalled(machine, tmp_path):
    root, _, state, node, script, pid_file, _ = machine
    script.write_text("setInterval(() => {}, 1000);\n")
    os.kill(int(pid_file.read_text()), 9)
    proc = subprocess.Popen([node, str(script)], start_new_session=True)
    pid_file.write_text(str(proc.pid))
    for _ in range(100):
        if processes_running(root):
            break
        time.sleep(0.05)
    result = apply(root, state, tmp_path / "cache-e", "--restart")
    assert result.exit_code == 3, result.output
    assert "cannot tell which process" in result.output and "is repaired" in result.output
    assert processes_running(root) == [proc.pid]  # left running, unsignalled
