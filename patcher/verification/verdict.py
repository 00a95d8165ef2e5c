"""The one rule for "this release is as required", read off a `verify --json` report.

`verify` (its exit code), `matrix` (each row, its exit code, the JUnit report) and
`scripts/verify_releases.py` (the docs table) all judge with `judge`, so they cannot
disagree. A report that verified nothing is never as required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patcher.detection.families import AFFECTED, UNKNOWN
from patcher.simulation.scenarios import OTHER, STUCK


@dataclass(frozen=True)
class Verdict:
    """Whether a release is as required, and when not, why (one sentence)."""

    ok: bool
    reason: str | None = None


def _side(report: dict[str, Any], name: str) -> dict[str, Any] | None:
    side = report.get(name)
    return side if isinstance(side, dict) else None


def judge(report: dict[str, Any] | None) -> Verdict:
    """The verdict on one `verify --json` report.

    An affected release must show the bug pristine (the negative control; for an install
    apply repaired, on the release rebuilt from its backups), hold every scenario patched
    and roll back byte for byte. Any other release must not show the bug. A report with an
    error, an unknown code shape or no report at all fails."""
    if not report:
        return Verdict(False, "no verify report was made")
    if report.get("error"):
        return Verdict(False, str(report["error"]))
    status = report.get("status")
    pristine, patched = _side(report, "pristine"), _side(report, "patched")
    if status == UNKNOWN or status is None:
        return Verdict(False, f"the release's code shape is {status or 'not judged'}")
    if status != AFFECTED:
        return _judge_unaffected(report, status, pristine)
    if pristine is None:
        return Verdict(False, "the pristine release was not verified: no negative control")
    if pristine.get("bug_reproduced") is not True:
        return Verdict(
            False, "negative control failed: the bug did not show on the pristine release"
        )
    if patched is None:
        return Verdict(False, report.get("summary") or "no patched copy was verified")
    if patched.get("ok") is not True:
        return Verdict(
            False, report.get("summary") or "the patched copy fails the restart contract"
        )
    if report.get("rollback_identical") is not True:
        return Verdict(False, "rollback did not restore every file byte-identical")
    return Verdict(True)


def _judge_unaffected(
    report: dict[str, Any], status: str, pristine: dict[str, Any] | None
) -> Verdict:
    """A release judged not affected or fixed upstream must be shown so: its pristine side
    ran and holds every scenario, or (without cron reconciliation in its sweeper, before
    2026.4.5) fails only by leaving dead runs running; a release without a sweeper has
    nothing to run."""
    if report.get("no_sweeper"):
        return Verdict(True)
    if pristine is None:
        return Verdict(False, "the pristine release was not verified")
    if pristine.get("bug_reproduced"):
        return Verdict(False, f"the bug shows on a release judged {status}")
    if pristine.get("ok") is True:
        return Verdict(True)
    kinds = {
        kind
        for scenario in (pristine.get("scenarios") or {}).values()
        for kind in scenario.get("failure_kinds", [OTHER])
    }
    if pristine.get("cron_reconciliation") is False and kinds <= {STUCK}:
        return Verdict(True)
    return Verdict(
        False,
        report.get("summary") or "the simulation does not hold on the release's own code",
    )
