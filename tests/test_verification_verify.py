"""The restart contract's judgement on synthetic observations, and the verify CLI's refusals."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from conftest import BUNDLES

from patcher.cli import main
from patcher.simulation.scenarios import SideResult, evaluate
from patcher.simulation.substitutes import Substitutions

JOBS = {"R": "r", "O": "o", "M": "m", "C": "c"}
DEAD_R = {"runId": "cron:r:100", "jobId": "r", "status": "running", "error": None, "summary": None}
DEAD_O = {"runId": "cron:o:101", "jobId": "o", "status": "running", "error": None, "summary": None}
A = {"jobs": JOBS, "records": [DEAD_R, DEAD_O]}


def rec(run_id: str, status: str, error: str | None = None, summary: str | None = None) -> dict:
    job = run_id.split(":")[1]
    return {"runId": run_id, "jobId": job, "status": status, "error": error, "summary": summary}


def b_report(race, live, past, final, other=None, **extra) -> dict:
    """B's observations; `other`: the records process C left (by default what B's own sweep
    past the grace saw)."""
    labels = ("race", "live", "live-past-grace", "final")
    observations = [
        {"label": label, "sweep": None, "records": records}
        for label, records in zip(labels, (race, live, past, final), strict=True)
    ]
    left = {"timedOut": False, "records": past if other is None else other}
    return {
        "observations": observations,
        "catchup": True,
        "manual": True,
        "otherProcess": left,
        **extra,
    }


def side(results, reconciles=True) -> SideResult:
    return SideResult(results, 1.0, "test", reconciles)


INTERRUPTED = "interrupted by gateway restart"


def test_a_repaired_restart_passes_every_scenario():
    dead_done = [rec("cron:r:100", "failed", INTERRUPTED), rec("cron:o:101", "failed", INTERRUPTED)]
    catchup, manual = rec("cron:r:500", "running"), rec("cron:m:501", "running")
    b = b_report(
        race=[*dead_done, catchup],
        live=[*dead_done, catchup, manual],
        past=[*dead_done, catchup, manual],
        final=[*dead_done, rec("cron:r:500", "succeeded"), rec("cron:m:501", "succeeded")],
    )
    result = side(evaluate(A, b, [], []))
    assert result.ok and not result.bug_reproduced
    assert json.dumps(result.to_json(pristine=True))  # serialisable


def test_79196_lost_records_are_the_bug():
    lost = "backing session missing"
    b = b_report(
        race=[
            rec("cron:r:100", "lost", lost),
            rec("cron:o:101", "lost", lost),
            rec("cron:r:500", "running"),
        ],
        live=[rec("cron:r:500", "running"), rec("cron:m:501", "running")],
        past=[rec("cron:r:500", "lost", lost), rec("cron:m:501", "lost", lost)],
        final=[
            rec("cron:r:100", "lost", lost),
            rec("cron:o:101", "lost", lost),
            rec("cron:r:500", "succeeded", lost),
            rec("cron:m:501", "succeeded", lost),
        ],
    )
    scenarios = evaluate(A, b, None, [])
    failed = {name for name, s in scenarios.items() if not s.passed}
    assert failed == {
        "in_flight_recurring",
        "one_shot_interrupted",
        "startup_race",
        "long_live_runs",
        "sweep_from_another_process",
    }
    assert side(scenarios).bug_reproduced
    assert "marked lost at the race sweep" in scenarios["in_flight_recurring"].failures[0][1]


def test_a_sweep_from_another_process_must_leave_the_live_runs_running():
    """2026.4.5 - 4.24: `openclaw tasks maintenance --apply` in a CLI process marks B's live
    runs lost past the grace, while B itself holds them; and a C that never swept proves
    nothing."""
    done = [rec("cron:r:100", "failed", INTERRUPTED), rec("cron:o:101", "failed", INTERRUPTED)]
    live = [*done, rec("cron:r:500", "running"), rec("cron:m:501", "running")]
    spoiled = [*done, rec("cron:r:500", "lost", "backing session missing"), live[3]]
    final = [*done, rec("cron:r:500", "succeeded"), rec("cron:m:501", "succeeded")]
    b = b_report(race=done, live=live, past=live, final=final, other=spoiled)
    scenarios = evaluate(A, b, [], [])
    assert [n for n, s in scenarios.items() if not s.passed] == ["sweep_from_another_process"]
    ((kind, message),) = scenarios["sweep_from_another_process"].failures
    assert kind == "lost" and "by another process's sweep: cron:r:500 lost" in message
    assert side(scenarios).bug_reproduced
    held = evaluate(A, b_report(race=done, live=live, past=live, final=final), [], [])
    assert all(s.passed for s in held.values())
    b["otherProcess"] = {"timedOut": True}
    ((kind, message),) = evaluate(A, b, [], [])["sweep_from_another_process"].failures
    assert kind == "other" and "could not run" in message


def test_dead_runs_left_running_are_the_bug_only_where_the_sweeper_reconciles_cron():
    stuck = [rec("cron:r:100", "running"), rec("cron:o:101", "running")]
    b = b_report(race=stuck, live=stuck, past=stuck, final=stuck, catchup=False)
    b["observations"][1]["records"] = [*stuck, rec("cron:m:501", "running")]
    scenarios = evaluate(A, b, None, [])
    assert not scenarios["no_zombies"].passed
    assert side(scenarios, reconciles=True).bug_reproduced
    assert not side(scenarios, reconciles=False).bug_reproduced  # 2026.4.2: not #79196


def test_persisted_active_ids_left_behind_are_zombies_and_store_problems_fail():
    done = [rec("cron:r:100", "failed", INTERRUPTED), rec("cron:o:101", "failed", INTERRUPTED)]
    b = b_report(
        race=done, live=[*done, rec("cron:m:501", "running")], past=done, final=done, catchup=False
    )
    scenarios = evaluate(A, b, ["r"], ["jobs.json: /jobs/0: bad"])
    assert scenarios["no_zombies"].failures[0][1].startswith("the store still lists activeJobIds")
    assert not scenarios["store_compatibility"].passed


def test_a_patched_store_must_have_listed_the_runs_in_flight_when_a_died():
    dead_done = [rec("cron:r:100", "failed", INTERRUPTED), rec("cron:o:101", "failed", INTERRUPTED)]
    b = b_report(race=dead_done, live=dead_done, past=dead_done, final=dead_done, catchup=False)
    b["observations"][1]["records"] = [*dead_done, rec("cron:m:501", "running")]

    def compat(killed):
        return evaluate(A, b, [], [], killed_active_ids=killed, a_persists=True)[
            "store_compatibility"
        ]

    assert compat(["o", "r"]).passed
    assert "lists activeJobIds ['r'], not the jobs it was running" in compat(["r"]).failures[0][1]
    assert "carries no activeJobIds" in compat(None).failures[0][1]
    assert evaluate(A, b, [], [])["store_compatibility"].passed  # pristine: not expected


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_verify_needs_exactly_one_target():
    assert run("verify").exit_code == 2
    result = run("verify", "--root", "x", "--release", "2026.4.14")
    assert result.exit_code == 2
    assert "exactly one of --root DIR and --release VERSION" in result.output


def test_verify_refuses_an_unknown_shape():
    result = run("verify", "--root", str(BUNDLES / "unknown-two-sweepers"))
    assert result.exit_code == 3
    assert "the sweeper role was found 2 times" in result.output


def test_verify_without_a_sweeper_has_nothing_to_run():
    result = run("verify", "--root", str(BUNDLES / "2026.3.1-no-sweeper"), "--json")
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["pristine"] is None and "no task sweeper" in payload["summary"]


@pytest.mark.parametrize("shape", ["2026.4.14-inline-json", "2026.8.1-fixed-worker"])
def test_a_harness_that_cannot_load_is_exit_3_never_a_verdict(shape, tmp_path):
    # The synthetic bundles have no CronService: the harness must refuse, not judge.
    result = run("--cache-dir", str(tmp_path), "verify", "--root", str(BUNDLES / shape))
    assert result.exit_code == 3
    assert "the harness needs CronService" in result.output


@pytest.mark.parametrize("identical", [True, False])
def test_a_rollback_that_is_not_byte_identical_fails_verify(identical, tmp_path, monkeypatch):
    """The judgement on the simulations is stubbed (the synthetic bundle cannot run); the
    scratch copy is really repaired by apply, and its rollback is what is judged."""
    import patcher.verification.verify as v

    bug = side(evaluate(A, b_report([rec("cron:r:100", "lost")], [], [], []), [], []))
    fixed = SideResult({}, 1.0, "test", True)
    calls = []

    def fake_verify_root(root, cache, deps_key, *, patched=False, **kw):
        calls.append(root)
        return fixed if patched else bug

    def rolled_back(copy, root, cache):
        assert (copy / "dist").is_dir() and copy != root  # the scratch copy, not the install
        return identical

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    prepared = SimpleNamespace(substitutions=Substitutions())
    monkeypatch.setattr(v, "prepare_release", lambda *a, **k: prepared)
    monkeypatch.setattr(v, "verify_root", fake_verify_root)
    monkeypatch.setattr(v, "rolled_back_identical", rolled_back)
    args = [
        "--cache-dir",
        str(tmp_path),
        "verify",
        "--root",
        str(BUNDLES / "2026.4.14-inline-json"),
    ]
    result = run(*args)
    assert len(calls) == 2 and bug.bug_reproduced and fixed.ok
    rollback_line = "rollback of the patched copy (must restore every byte):"
    if identical:
        assert result.exit_code == 0, result.output
        assert f"{rollback_line} byte-identical, as required" in result.output
        # A success reads as one: the pristine side's failures are the negative control.
        assert "FAIL" not in result.output and "NOT" not in result.output, result.output
        assert (
            "pristine release (the negative control, must show the bug): "
            "bug reproduced, as required: 5 of 7 scenarios fail (1.0 s" in result.output
        )
        assert "  fails, as expected  in_flight_recurring" in result.output
        assert "verdict: as required: bug reproduced on the pristine release" in result.output
        assert json.loads(run(*args, "--json").output)["ok"] is True
    else:
        assert result.exit_code == 1, result.output
        assert f"{rollback_line} NOT identical" in result.output
        assert "verdict: NOT as required: the patched copy holds, but rollback" in result.output
        payload = json.loads(run(*args, "--json").output)
        assert payload["rollback_identical"] is False and payload["ok"] is False
