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
from patcher.cli import main
from patcher.simulation.restart import list_cron_records, prepare_release, simulate

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
