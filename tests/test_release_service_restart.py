"""`apply --restart` on a real foreground gateway of 2026.4.22, started as a user starts it
(`openclaw gateway run`, free to restart itself with a fresh pid): `apply` finds it
running and prints the command; with a cron run held longer than `--wait` the restart is
refused and the same gateway keeps running; once the held run ends within `--wait`,
`apply --restart` sends it SIGUSR1 as the install's own `openclaw gateway restart` would,
and the gateway restarts itself in a new process that answers `/health`."""

from __future__ import annotations

import json
import re
import threading

import pytest
from click.testing import CliRunner

from patcher.cache.scratch import scratch
from patcher.cli import main
from patcher.cronstore.location import resolve_store
from patcher.detection.install import open_install
from patcher.gateway.isolation import run_isolated
from patcher.gateway.model import ModelServer
from patcher.gateway.process import GatewayRun
from patcher.gateway.scenarios import records_of, start_held_run
from patcher.gateway.verify import full_install
from patcher.service.restart import runs_in_flight
from patcher.simulation.node import find_node
from patcher.system.processes import processes_running
from patcher.verification.copies import plain_copy

pytestmark = pytest.mark.release

VERSION = "2026.4.22"
RELEASE_AFTER_S = 20.0  # the held run ends this long into `apply --restart --wait 240`


def _exercise(run: GatewayRun, root, cache) -> dict:
    def apply(*extra: str) -> list:
        result = CliRunner().invoke(
            main,
            ["--cache-dir", str(cache), "apply", "--root", str(root), "--state-dir",
             str(run.state), "--skip-simulation", *extra],
        )  # fmt: skip
        return [result.exit_code, result.stdout, result.output]

    run.start()
    found: dict = {"first": processes_running(root, run.state)}
    found["plain"] = apply()
    word = "JOB-HELD"
    job, held = start_held_run(run, "R", word)
    found["in_flight"] = runs_in_flight(resolve_store(run.state))
    found["refused"] = apply("--restart", "--wait", "10")
    found["after_refusal"] = processes_running(root, run.state)
    found["healthy_after_refusal"] = run.health() is not None
    release = threading.Timer(RELEASE_AFTER_S, run.model.release, [word])
    release.start()
    try:
        found["restarted"] = apply("--restart", "--wait", "240", "--json")
    finally:
        release.cancel()
        run.model.release(word)
    found["after_restart"] = processes_running(root, run.state)
    found["healthy_after_restart"] = run.healthy()
    held_ids = {r["runId"] for r in held}
    found["held_run"] = [r for r in records_of(run, job) if r["runId"] in held_ids]
    return found


def test_a_foreground_gateway_is_restarted_once_its_run_ends(release_cache):
    root, _ = full_install(VERSION, release_cache, lambda _: None)
    node = find_node(open_install(root).engines_node, release_cache, root).path

    def work() -> dict:
        model = ModelServer().start()
        try:
            with plain_copy(root, release_cache) as copy, scratch(release_cache, "gw") as folder:
                run = GatewayRun(copy, node, folder, model, respawn=True)
                run.prepare()
                try:
                    return _exercise(run, copy, release_cache)
                finally:
                    run.close()
        finally:
            model.stop()

    found, _ = run_isolated(work)
    shown = json.dumps(found, indent=1)
    first = set(found["first"])
    assert first, shown
    code, _, output = found["plain"]
    assert code == 0, output
    assert "a gateway from this install is running (pid" in output
    signalled = re.search(r"kill -USR1 (\d+)", output)  # the exact command, not run
    assert signalled and int(signalled[1]) in first, output
    assert found["in_flight"], shown  # the store marks the held run

    code, _, output = found["refused"]
    assert code == 3, output
    assert "still in flight after 10 s" in output and "left running" in output, output
    assert set(found["after_refusal"]) == first and found["healthy_after_refusal"], shown

    code, stdout, output = found["restarted"]
    assert code == 0, output
    restart = json.loads(stdout)["installs"][0]["restart"]
    assert restart["restarted"], shown
    steps = [s["step"] for s in restart["steps"]]
    assert steps == ["find", "wait", "wait", "restart", "check"], shown
    assert "cron runs in flight" in restart["steps"][1]["detail"]
    assert "SIGUSR1 to the foreground gateway" in restart["steps"][3]["detail"], shown
    assert "/health ok" in restart["steps"][4]["detail"]
    after = set(found["after_restart"])
    assert after and not after & first and found["healthy_after_restart"], shown
    # The held run ended by its own outcome before the restart, not cut off by it.
    assert [r["status"] for r in found["held_run"]] == ["succeeded"], shown
