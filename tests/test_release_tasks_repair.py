"""`tasks repair` on records a release's own code spoiled: the pristine restart scenarios run
on 2026.4.22, 5.7 and 7.1 and leave cron records `lost`; `tasks repair` restores those whose
outcome the release recorded (its job state, its run log) and the release's own
task-registry reader then lists the restored status. 2026.4.22's start() clears a dead run's
marker without recording any outcome: its lost records have no evidence and stay as they
are, listed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from patcher.cache.releases import fetch_release
from patcher.cache.scratch import scratch
from patcher.cli import main
from patcher.detection.install import open_install
from patcher.gateway.isolation import run_isolated
from patcher.gateway.model import ModelServer
from patcher.gateway.process import GatewayRun
from patcher.gateway.scenarios import run_side
from patcher.gateway.verify import full_install
from patcher.simulation.node import find_node
from patcher.simulation.restart import list_cron_records, prepare_release, simulate
from patcher.verification.copies import plain_copy

pytestmark = pytest.mark.release

LOST = "backing session missing"


# Whether the release records an outcome for some run its sweeper marked lost.
EVIDENCE = {"2026.4.22": False, "2026.5.7": True, "2026.7.1": True}


@pytest.mark.parametrize("version", sorted(EVIDENCE))
def test_records_the_release_marked_lost_are_restored(version, release_cache, tmp_path):
    release = fetch_release(version, release_cache)
    prepared = prepare_release(release, release_cache, version)
    work = tmp_path / "work"
    side = simulate(prepared, work)  # the pristine release: the negative control
    assert side.bug_reproduced
    state = work / "run" / "state"
    before = {r["runId"]: r for r in prepared.run(lambda: list_cron_records(prepared, state))}
    lost = {k for k, r in before.items() if r["status"] == "lost" and r["error"] == LOST}
    assert lost, "the pristine scenarios left no record lost"

    def repair(*args):
        return CliRunner().invoke(
            main,
            ["--cache-dir", str(release_cache), "tasks", "repair", "--state-dir", str(state),
             "--json", *args],
        )  # fmt: skip

    result = repair()
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    restored = {c["runId"]: c for c in report["restored"]}
    left = {c["runId"] for c in report["without_evidence"]}
    assert bool(restored) is EVIDENCE[version], json.dumps(report, indent=1)
    assert set(restored) | left == lost and not set(restored) & left

    after = {r["runId"]: r for r in prepared.run(lambda: list_cron_records(prepared, state))}
    for run_id, change in restored.items():
        assert after[run_id]["status"] == change["status"] != "lost"
        assert after[run_id]["endedAt"] == change["endedAt"]
    for run_id in set(before) - set(restored):  # nothing else changed
        assert after[run_id] == before[run_id]
    again = json.loads(repair().output)
    assert again["outcome"] == "nothing-to-repair" and not again["restored"]


def _records_in(listed) -> dict[str, dict]:
    """The task records in what `openclaw tasks list --json` printed, by run id."""
    found: dict[str, dict] = {}
    stack = [listed]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("runId"), str) and "status" in item:
                found[item["runId"]] = item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_the_real_gateway_s_lost_records_are_left_and_listed_on_2026_4_22(release_cache):
    """2026.4.22's own gateway, pristine: its sweeper marks the held manual run and the run in
    flight across the restart `lost`. The manual run then finishes and the release itself
    overwrites its record to `succeeded`; the dead run in flight has no recorded outcome. So
    `tasks repair` restores nothing, lists every lost record as without evidence and writes
    nothing, and the release's own `openclaw tasks list` still lists them `lost`."""
    root, _ = full_install("2026.4.22", release_cache, lambda _: None)
    node = find_node(open_install(root).engines_node, release_cache, root).path

    def work() -> dict:
        model = ModelServer().start()
        try:
            with plain_copy(root, release_cache) as copy, scratch(release_cache, "gw") as folder:
                run = GatewayRun(copy, node, folder, model)
                side = run_side(run, lambda _: None).to_json(pristine=True)
                before = run.tasks()
                args = ["--cache-dir", str(release_cache), "tasks", "repair",
                        "--state-dir", str(run.state), "--json"]  # fmt: skip
                repaired = CliRunner().invoke(main, args)
                listed = run.cli_json("tasks", "list", "--json")
                again = CliRunner().invoke(main, args)
                return {
                    "side": side,
                    "before": before,
                    "repaired": [repaired.exit_code, repaired.output],
                    "listed": listed,
                    "again": [again.exit_code, again.output],
                }
        finally:
            model.stop()

    found, _ = run_isolated(work)
    shown = json.dumps(found, indent=1)
    assert found["side"]["bug_reproduced"], shown
    lost = {r["runId"] for r in found["before"] if r["status"] == "lost" and r["error"] == LOST}
    assert lost, shown
    # The release healed the manual run's record itself, keeping the sweeper's error text.
    healed = [r for r in found["before"] if r["status"] == "succeeded" and LOST in str(r["error"])]
    assert healed, shown
    code, output = found["repaired"]
    assert code == 0, output
    report = json.loads(output)
    assert report["outcome"] == "nothing-to-repair" and report["restored"] == [], shown
    assert {c["runId"] for c in report["without_evidence"]} == lost, shown
    assert report.get("backup") is None, shown
    listed = _records_in(found["listed"])
    assert all(listed[run_id]["status"] == "lost" for run_id in lost), shown
    code, output = found["again"]
    assert code == 0 and json.loads(output)["outcome"] == "nothing-to-repair", output
