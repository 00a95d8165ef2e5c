"""The parts of `verify --gateway` that need no release: the stand-in model, the preload
(clock and /tmp redirect), the loopback-only namespace, and the judging of records."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from patcher.gateway.isolation import (
    IsolatedFailure,
    can_isolate,
    run_isolated,
    run_isolated_all,
)
from patcher.gateway.model import ModelServer
from patcher.gateway.process import GATEWAY_CALL_MS, PRELOAD, GatewayRun
from patcher.gateway.scenarios import side_from_json
from patcher.simulation.scenarios import LOST, ScenarioResult, SideResult


def _post(url: str, body: dict, timeout: float = 10) -> bytes:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return answer.read()


def test_the_model_answers_at_once_and_holds_what_it_is_told_to():
    model = ModelServer().start()
    try:
        url = f"{model.base_url}/chat/completions"
        quick = json.loads(_post(url, {"messages": [{"role": "user", "content": "hi"}]}))
        assert quick["choices"][0]["message"]["content"] == "done"
        model.hold("JOB-X")
        out: list[bytes] = []
        body = {"stream": True, "messages": [{"role": "user", "content": "run JOB-X"}]}
        worker = threading.Thread(target=lambda: out.append(_post(url, body, 60)))
        worker.start()
        for _ in range(100):
            if model.holding("JOB-X"):
                break
            threading.Event().wait(0.05)
        assert model.holding("JOB-X") and worker.is_alive()  # the stream stays open
        model.release("JOB-X")
        worker.join(30)
        assert b'"content": "done"' in out[0] and out[0].rstrip().endswith(b"data: [DONE]")
        assert [s.held for s in model.requests_naming("JOB-X")] == [True]
    finally:
        model.stop()


def _node() -> str:
    node = shutil.which("node")
    assert node, "the tests need a node binary on PATH"
    return node


def test_the_preload_shifts_the_wall_clock_by_the_file_and_nothing_else(tmp_path):
    clock = tmp_path / "offset"
    clock.write_text(str(6 * 60_000))
    script = (
        "const a = Date.now(), b = new Date().getTime(), c = new Date(0).getTime();"
        "console.log(JSON.stringify([a, b, c, typeof Date(), new Date() instanceof Date]))"
    )
    env = {**os.environ, "OPENCLAW_PATCHER_CLOCK_FILE": str(clock)}
    before = int(
        subprocess.run([_node(), "-p", "Date.now()"], capture_output=True, text=True).stdout
    )
    done = subprocess.run(
        [_node(), f"--import={PRELOAD.as_uri()}", "-e", script],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    a, b, c, kind, is_date = json.loads(done.stdout)
    assert 6 * 60_000 - 5_000 < a - before < 6 * 60_000 + 30_000
    assert abs(b - a) < 1_000 and c == 0 and kind == "string" and is_date


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie waits for its parent (init here) to reap it: it runs nothing.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_preloaded_process_ends_when_whatever_started_it_is_killed(tmp_path):
    """SIGKILL of the check reaches no `finally`: each Node process of the run (the gateway
    and the children it starts, which inherit NODE_OPTIONS) ends itself once its parent is
    gone."""
    pid_file = tmp_path / "grandchild.pid"
    grandchild = (
        f"require('fs').writeFileSync({str(pid_file)!r}, String(process.pid));"
        "setInterval(() => {}, 1000);"
    )
    script = (
        "const { spawn } = require('child_process');"
        f"spawn(process.execPath, ['-e', {grandchild!r}], {{ stdio: 'ignore' }});"
        "setInterval(() => {}, 1000);"
    )
    env = {**os.environ, "NODE_OPTIONS": f"--import={PRELOAD.as_uri()}"}
    child = subprocess.Popen([_node(), "-e", script], env=env)
    try:
        for _ in range(200):
            if pid_file.is_file() and pid_file.read_text():
                break
            threading.Event().wait(0.05)
        grandchild_pid = int(pid_file.read_text())
        assert not _gone(grandchild_pid)
    finally:
        child.kill()  # SIGKILL: the child's own handlers never run
        child.wait()
    for _ in range(200):  # the preload polls its parent every second
        if _gone(grandchild_pid):
            break
        threading.Event().wait(0.05)
    assert _gone(grandchild_pid)


def test_an_isolated_side_reaches_loopback_and_nothing_else():
    assert can_isolate(), "the namespace needs root on Linux (the tests run as root)"

    def work():
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            with socket.create_connection(server.getsockname(), timeout=2):
                pass
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routable only on a real network
                reached = True
            except OSError:
                reached = False
        return {"loopback": True, "outside": reached}

    result, isolated = run_isolated(work)
    assert isolated and result == {"loopback": True, "outside": False}


def test_a_failure_inside_the_namespace_comes_back_as_one_sentence():
    def work():
        raise RuntimeError("the gateway exited before it was healthy: boom")

    with pytest.raises(IsolatedFailure, match="exited before it was healthy: boom"):
        run_isolated(work)


def _appears(path: Path, within: float = 60.0) -> bool:
    for _ in range(int(within / 0.05)):
        if path.exists():
            return True
        threading.Event().wait(0.05)
    return False


def test_isolated_sides_run_at_once(tmp_path):
    # Each side waits for the other's mark: one after the other, the first would time out.
    def side(mine: str, theirs: str):
        def work():
            (tmp_path / mine).touch()
            return {"met": _appears(tmp_path / theirs), "pid": os.getpid()}

        return work

    done = run_isolated_all([side("a", "b"), side("b", "a")])
    assert [isolated for _, isolated in done] == [True, True]
    assert [result["met"] for result, _ in done] == [True, True]
    assert done[0][0]["pid"] != done[1][0]["pid"] != os.getpid()


def test_a_failing_side_ends_the_one_still_running(tmp_path):
    marker = tmp_path / "pid"

    def waits():
        marker.write_text(str(os.getpid()))
        threading.Event().wait(600)  # ended by the parent, never by itself
        return {}

    def fails():
        _appears(marker)
        raise RuntimeError("apply on the copy failed")

    with pytest.raises(IsolatedFailure, match="apply on the copy failed"):
        run_isolated_all([waits, fails])  # the failing side is the second: read as it ends
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped


def test_a_side_survives_the_trip_through_json():
    lost = ScenarioResult("in_flight_restart")
    lost.fail(LOST, "dead run marked lost: cron:r:1 lost (backing session missing)")
    side = SideResult({"in_flight_restart": lost, "keeps_working": ScenarioResult("k")}, 3.0, "n")
    again = side_from_json(json.loads(json.dumps(side.to_json(pristine=True))))
    assert again.bug_reproduced and not again.ok
    assert again.to_json(pristine=True) == side.to_json(pristine=True)


def test_the_preload_ships_with_the_package():
    assert PRELOAD.is_file() and Path(PRELOAD.parent / "__init__.py").is_file()


class FakeGateway:
    """A gateway whose task records follow a script: `lost` plays pristine 2026.4.22 (the
    dead run and the held manual run marked lost), otherwise a repaired gateway."""

    def __init__(self, lost: bool):
        self.lost = lost
        self.records: dict[str, dict] = {}
        self.holds: set[str] = set()
        self.jobs: list[str] = []
        self.phase = "A"
        self.model = self
        self.root = self.node = self.scratch = Path("/nonexistent")

    # the model's side
    def hold(self, word):
        self.holds.add(word)
        if word.startswith("JOB-M"):
            return
        self.records["r1"] = {"runId": "r1", "status": "running", "sourceId": "job-R"}

    def release(self, word):
        self.holds.discard(word)
        manual = self.records.get("m1", {})
        if word.startswith("JOB-M") and manual.get("status") == "running":
            manual.update(status="succeeded", terminalSummary="done")

    def holding(self, word):
        return word in self.holds

    # the gateway's side
    def prepare(self):
        pass

    def start(self):
        if self.phase == "B":
            dead = self.records["r1"]
            if self.lost:
                dead.update(status="lost", error="backing session missing")
            else:
                dead.update(status="failed", error="interrupted by gateway restart")
            self.records["r2"] = {"runId": "r2", "status": "succeeded", "sourceId": "job-R"}

    def kill(self):
        self.phase = "B"

    close = kill

    def shift_clock(self, ms):
        if "m1" in self.records and self.lost:
            self.records["m1"].update(status="lost", error="backing session missing")

    def cli_json(self, *args):
        name = args[args.index("--name") + 1]
        self.jobs.append(name)
        return {"id": f"job-{name}"}

    def cli_background(self, *args):
        self.records["m1"] = {"runId": "m1", "status": "running", "sourceId": "job-M"}
        return subprocess.Popen(["true"])

    def cli(self, *args, check=True):
        return subprocess.CompletedProcess(args, 0, "", "")

    def healthy(self, within=30.0):
        return True

    def tasks(self):
        return [dict(r) for r in self.records.values()]


@pytest.mark.parametrize("lost", [True, False])
def test_the_scenarios_judge_what_the_records_show(lost, monkeypatch):
    import patcher.gateway.scenarios as sc

    for name, value in (("SWEEP_WAIT", 0.05), ("SETTLE_MIN", 0.0), ("RUN_WAIT", 2.0)):
        monkeypatch.setattr(sc, name, value)
    monkeypatch.setattr(sc.time, "sleep", lambda s: None)
    side = sc.run_side(FakeGateway(lost), lambda message: None)
    failed = {name for name, s in side.scenarios.items() if not s.passed}
    if lost:
        assert side.bug_reproduced and failed == {"in_flight_restart", "manual_run_held"}
    else:
        assert side.ok and not side.bug_reproduced
        notes = side.scenarios["in_flight_restart"].notes
        assert notes == ["dead run ended r1 failed (interrupted by gateway restart)"]


def test_cron_calls_wait_longer_for_the_gateway_unless_the_cli_refuses_the_option(tmp_path):
    """`cron` calls pass `--timeout` (the CLI's 30 s was too short for a busy gateway); a
    release whose CLI does not know it gets the same call without, from then on."""
    calls = tmp_path / "calls"
    node = tmp_path / "node"
    node.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{calls}"\n'
        'case "$*" in *--timeout*) echo "error: unknown option \'--timeout\'" >&2; exit 1;; esac\n'
        'echo "{\\"ok\\": true}"\n'
    )
    node.chmod(0o755)
    (tmp_path / "scratch").mkdir()
    run = GatewayRun(tmp_path, node, tmp_path / "scratch", ModelServer())
    assert run.cli_json("cron", "list", "--json") == {"ok": True}
    assert run.cli_json("cron", "list", "--json") == {"ok": True}
    run.cli("--version")
    seen = calls.read_text().splitlines()
    assert seen[0].endswith("cron list --json --timeout 120000")
    assert [line.split("openclaw.mjs ")[1] for line in seen[1:]] == [
        "cron list --json",
        "cron list --json",
        "--version",
    ]


def test_the_gateway_gives_a_slow_handshake_as_long_as_a_cron_call(tmp_path, monkeypatch):
    """A busy gateway closed connections whose handshake took over 10 s ("gateway closed
    (1000)"); the run sets the gateway's handshake timeout, whatever the caller's says."""
    monkeypatch.setenv("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "5")
    run = GatewayRun(tmp_path, tmp_path / "node", tmp_path / "scratch", ModelServer())
    assert run.env()["OPENCLAW_HANDSHAKE_TIMEOUT_MS"] == GATEWAY_CALL_MS
