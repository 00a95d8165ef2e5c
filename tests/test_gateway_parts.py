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

from patcher.gateway.isolation import IsolatedFailure, can_isolate, run_isolated
from patcher.gateway.model import ModelServer
from patcher.gateway.process import PRELOAD
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


def test_a_side_survives_the_trip_through_json():
    lost = ScenarioResult("in_flight_restart")
    lost.fail(LOST, "dead run marked lost: cron:r:1 lost (backing session missing)")
    side = SideResult({"in_flight_restart": lost, "keeps_working": ScenarioResult("k")}, 3.0, "n")
    again = side_from_json(json.loads(json.dumps(side.to_json(pristine=True))))
    assert again.bug_reproduced and not again.ok
    assert again.to_json(pristine=True) == side.to_json(pristine=True)


def test_the_preload_ships_with_the_package():
    assert PRELOAD.is_file() and Path(PRELOAD.parent / "__init__.py").is_file()
