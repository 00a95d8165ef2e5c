"""The one verdict rule (patcher/verification/verdict.py) of verify, matrix and the docs
table: a report that verified nothing, or whose simulation did not hold, never passes."""

from __future__ import annotations

from patcher.verification.verdict import judge


def side(ok: bool, bug: bool | None = None, kinds=(), reconciles: bool = True) -> dict:
    out = {
        "ok": ok,
        "cron_reconciliation": reconciles,
        "scenarios": {"s": {"passed": not kinds, "failure_kinds": list(kinds)}},
    }
    if bug is not None:
        out["bug_reproduced"] = bug
    return out


def report(status: str, pristine=None, patched=None, rolled=None, **extra) -> dict:
    return {
        "status": status,
        "pristine": pristine,
        "patched": patched,
        "rollback_identical": rolled,
        "summary": "s",
        **extra,
    }


def test_an_affected_release_needs_the_bug_pristine_the_repair_and_the_rollback():
    good = report("affected", side(False, True, ["lost"]), side(True), True)
    assert judge(good).ok
    assert not judge({**good, "rollback_identical": None}).ok
    assert not judge({**good, "patched": side(False, kinds=["other"])}).ok
    assert "negative control" in judge({**good, "pristine": side(True, False)}).reason
    assert not judge({**good, "patched": None}).ok


def test_a_release_judged_unaffected_must_be_shown_so():
    assert judge(report("fixed-upstream", side(True, False))).ok
    # Nothing verified: no pristine side, or no report at all.
    assert not judge(report("fixed-upstream")).ok
    assert not judge({"status": "fixed-upstream"}).ok
    assert not judge(None).ok
    # The harness broke (process A left nothing, start() failed): not proof of a fix.
    assert not judge(report("fixed-upstream", side(False, False, ["other"]))).ok
    # Dead runs left running where the sweeper never reconciles cron records (4.2): fine;
    # the same where it does reconcile is not.
    assert judge(report("not-affected", side(False, False, ["stuck"], reconciles=False))).ok
    assert not judge(report("not-affected", side(False, False, ["stuck"], reconciles=True))).ok
    assert not judge(report("fixed-upstream", side(False, True, ["lost"]))).ok
    assert judge(report("not-affected", no_sweeper=True)).ok


def test_errors_and_unknown_shapes_fail():
    assert not judge({"error": "exit 7"}).ok
    assert not judge(report("unknown")).ok
