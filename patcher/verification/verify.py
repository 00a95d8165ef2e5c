"""`verify`: the restart contract checked on a release's own code, with its verdict.

The pristine release is the negative control: on an affected release its scenarios must
fail (a record ends `lost` / "backing session missing", or a dead run's record stays
`running`). The patched side runs on a scratch copy repaired by `apply` itself, which is
then rolled back and compared file by file. The verdict is patcher/verification/verdict.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patcher.cache.releases import fetch_release
from patcher.cache.scratch import scratch
from patcher.detection.detect import Detection, detect_install
from patcher.detection.families import AFFECTED, UNKNOWN
from patcher.detection.install import open_install
from patcher.detection.scan import remembered
from patcher.errors import EXIT_CHECK_FAILED, EXIT_OK, RefusedError
from patcher.repair.plan import Plan, PlanRefused, plan, range_notes, specs_for
from patcher.simulation.harness import Prepared, dependencies_linked
from patcher.simulation.restart import STATE_REPAIR, prepare_release, simulate, verify_root
from patcher.simulation.scenarios import SideResult, side_summary
from patcher.system.cores import usable_cores
from patcher.verification.copies import (
    kept_compile_cache,
    repaired_copy,
    rolled_back_identical,
    unpatched_copy,
)
from patcher.verification.verdict import Verdict, judge

Progress = Callable[[str], None]


VERIFY_SCHEMA = "openclaw-patcher/verify/1"


@dataclass
class VerifyReport:
    """What `verify` found for one install or release; it owns its exit code and JSON."""

    root: Path
    version: str
    status: str
    family: str | None
    pristine: SideResult | None = None
    patched: SideResult | None = None
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    rollback_identical: bool | None = None  # None: no patched copy was made
    no_sweeper: bool = False  # a release without a task sweeper: nothing can be marked lost
    # Packages the registry does not publish at the pinned version, and what stood in.
    substituted: dict[str, list[str]] = field(default_factory=dict)  # name: [wanted, used]
    stubs: dict[str, str] = field(default_factory=dict)  # name: wanted

    @property
    def verdict(self) -> Verdict:
        return judge(self._fields())

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.verdict.ok else EXIT_CHECK_FAILED

    def to_json(self) -> dict[str, Any]:
        return {**self._fields(), "ok": self.verdict.ok}

    def _fields(self) -> dict[str, Any]:
        return {
            "schema": VERIFY_SCHEMA,
            "version": self.version,
            "root": str(self.root),
            "status": self.status,
            "family": self.family,
            "pristine": self.pristine.to_json(pristine=True) if self.pristine else None,
            "patched": self.patched.to_json(pristine=False) if self.patched else None,
            "rollback_identical": self.rollback_identical,
            "no_sweeper": self.no_sweeper,
            "substituted": self.substituted,
            "stubs": self.stubs,
            "notes": self.notes,
            "summary": self.summary,
        }


def verify_install(
    root: Path, cache: Path, *, fetched: bool, progress: Progress = lambda _: None
) -> VerifyReport:
    """Detect the release at `root`, run the scenarios on it, and give the verdict; each
    stage is told to `progress` as it starts.

    A fetched release (`--release`) gets its dependencies installed into the cache; an
    existing install (`--root`) runs with its own node_modules.
    """
    with remembered():  # detect, prepare, plan and the copy's apply scan the same files
        return _verify_install(root, cache, fetched, progress)


def _note_substitutions(report: VerifyReport, prepared: Prepared) -> None:
    """Say what stood in for packages the registry does not publish (verified with
    substitutions: the release's own code ran, beside those packages)."""
    report.substituted = dict(prepared.substitutions.versions)
    report.stubs = dict(prepared.substitutions.stubs)
    report.notes.extend(prepared.substitutions.describe())


def _planned(detection: Detection, report: VerifyReport) -> tuple[list, Plan | None]:
    """The specs for an affected release and their plan (None, with a note, when the plan
    is refused)."""
    install, verdict = detection.install, detection.verdict
    if verdict.status != AFFECTED:
        return [], None
    specs = specs_for(verdict.family, verdict.store)
    report.notes.extend(range_notes(specs, install.version))
    if not specs:
        return specs, None
    try:
        return specs, plan(install.root, detection.bundles, specs, verdict.store)
    except PlanRefused as exc:
        report.notes.append(f"the repair cannot be planned here: {exc}")
        return specs, None


def _verify_install(root: Path, cache: Path, fetched: bool, progress: Progress) -> VerifyReport:
    progress(f"detecting the cron code of {root}")
    detection = detect_install(open_install(root))
    install, verdict = detection.install, detection.verdict
    report = VerifyReport(install.root, install.version, verdict.status, verdict.family)
    report.notes.extend(verdict.notes)
    if verdict.status == UNKNOWN:
        raise RefusedError(
            f"{install.root}: {verdict.reason}; verify refuses an unknown code shape."
        )
    if not detection.bundles.primaries("sweeper"):
        report.no_sweeper = True
        report.summary = "no task sweeper in this release: cron runs are never marked lost"
        return report
    reconciles = bool(detection.bundles.facts("sweeper").get("cron_branch"))
    specs, patched_plan = _planned(detection, report)
    if patched_plan is not None and patched_plan.applied and not fetched:
        _verify_repaired_install(report, install.root, cache, reconciles, patched_plan, progress)
        return report
    deps_key = install.version if fetched else None
    if fetched:
        progress("installing the packages its cron code imports (cached after the first time)")

    def pristine_side(pristine: Prepared) -> SideResult:
        return verify_root(
            install.root, cache, deps_key, cron_reconciliation=reconciles, like=pristine
        )

    # The sides share nothing but the prepared release (read only) and the cache, and their
    # time is the Node processes': with a second core, the patched side runs at once with
    # the pristine; its copy is made and repaired while the release is prepared, where
    # preparing it leaves the release's files as they are (then the copy links the same
    # dependencies).
    at_once = verdict.status == AFFECTED and patched_plan is not None and usable_cores() >= 2
    copy_early = at_once and dependencies_linked(install.root, cache, deps_key)
    progress(
        "pristine side: the restart scenarios on the release (the negative control)"
        + (", at once with the patched side" if at_once else "")
    )
    if at_once:
        with ThreadPoolExecutor(1) as pool:
            prepared = pool.submit(prepare_release, install.root, cache, deps_key)
            if not copy_early:
                prepared.result()
            negative = pool.submit(lambda: pristine_side(prepared.result()))
            _verify_patched_copy(
                report,
                install.root,
                cache,
                prepared.result,
                reconciles,
                patched_plan,
                progress,
                deps_key,
            )
            pristine = prepared.result()
            report.pristine = negative.result()
    else:
        pristine = prepare_release(install.root, cache, deps_key)
        report.pristine = pristine_side(pristine)
    _note_substitutions(report, pristine)
    if verdict.status != AFFECTED:
        report.summary = _unaffected_summary(verdict.status, report.pristine, reconciles)
    elif not report.pristine.bug_reproduced:
        report.summary = (
            "negative control failed: the bug did not show on this affected pristine release, "
            "so the simulation proves nothing here"
        )
    elif patched_plan is None:
        report.summary = (
            f"affected: bug reproduced on the pristine release ({side_summary(report.pristine)}); "
            "no patch spec covers this release yet"
            if not specs
            else f"affected: bug reproduced on the pristine release; the repair does not "
            f"plan on this release ({report.notes[-1]})"
        )
    elif not at_once:
        _verify_patched_copy(
            report,
            install.root,
            cache,
            lambda: pristine,
            reconciles,
            patched_plan,
            progress,
            deps_key,
        )
    return report


def _verify_repaired_install(
    report: VerifyReport,
    root: Path,
    cache: Path,
    reconciles: bool,
    the_plan: Plan,
    progress: Progress,
) -> None:
    """verify --root on an install `apply` repaired: the patched side is the install as it
    is; the negative control runs on a copy put back from apply's backups (what rollback
    would restore), which must show the bug."""
    progress("pristine side: the release rebuilt from apply's backups (the negative control)")
    with unpatched_copy(root, cache) as copy:
        pristine = prepare_release(copy, cache, None)
        report.pristine = verify_root(
            copy, cache, None, cron_reconciliation=reconciles, like=pristine
        )
        _note_substitutions(report, pristine)
    # unpatched_copy checked that the backups restore the release, as rollback would.
    report.rollback_identical = True
    progress("patched side: the restart scenarios on the repaired install")
    report.patched = verify_root(
        root,
        cache,
        None,
        cron_reconciliation=reconciles,
        patched=True,
        active_ids=the_plan.persists_active_ids,
        like=pristine,
    )
    if not report.pristine.bug_reproduced:
        report.summary = (
            "negative control failed: the bug did not show on the release this install was "
            "repaired from, so the simulation proves nothing here"
        )
    elif report.patched.ok:
        report.summary = (
            "repaired install: every scenario of the restart contract holds, and the release "
            "it was repaired from (rebuilt from apply's backups) shows the bug"
        )
    else:
        report.summary = (
            f"the repaired install fails the restart contract: {side_summary(report.patched)}"
        )


def _unaffected_summary(status: str, pristine: SideResult, reconciles: bool) -> str:
    if pristine.bug_reproduced:
        return f"the bug shows on a release judged {status}: {side_summary(pristine)}"
    if pristine.ok:
        return f"{status}: every scenario of the restart contract holds"
    if not reconciles and pristine.only_stuck:
        return (
            f"{status}: #79196 does not show (no record is marked lost); this "
            "release's sweeper never reconciles cron records, so dead runs stay running "
            f"as they always did here ({side_summary(pristine)})"
        )
    return (
        f"{status}, but the simulation does not hold on the release's own "
        f"code ({side_summary(pristine)}): nothing is proven here"
    )


def _verify_patched_copy(
    report: VerifyReport,
    root: Path,
    cache: Path,
    pristine: Callable[[], Prepared],
    reconciles: bool,
    the_plan: Plan,
    progress: Progress,
    keep: str | None = None,
) -> None:
    """The patched side on a scratch copy repaired by `apply`, then its rollback; the
    release prepared (`pristine()`) is needed once the copy is repaired. `keep`: a fetched
    release's version, whose copy is kept for the next run (repaired_copy)."""
    progress("patched side: the restart scenarios on a copy repaired by apply")
    with repaired_copy(root, cache, keep) as copy:
        prepared = pristine()
        report.patched = verify_root(
            copy,
            cache,
            None,
            cron_reconciliation=reconciles,
            patched=True,
            active_ids=the_plan.persists_active_ids,
            unpatched=prepared,
            like=prepared,
            compile_cache=kept_compile_cache(copy, cache, prepared),
        )
        progress("rollback check: the copy rolled back must match the release byte for byte")
        report.rollback_identical = rolled_back_identical(copy, root, cache)
    if report.patched.ok and report.rollback_identical:
        report.summary = (
            "bug reproduced on the pristine release; the patched copy holds every scenario, "
            "and rollback restores it byte for byte"
        )
    elif not report.patched.ok:
        report.summary = (
            f"the patched copy fails the restart contract: {side_summary(report.patched)}"
        )
    else:
        report.summary = "the patched copy holds, but rollback does not restore every file"


def verify_upgrade(
    from_version: str, to_version: str, cache: Path, *, patched: bool = True
) -> SideResult:
    """A (patched) install upgraded across a crash: run process A on a patched scratch copy
    of `from_version` (the pristine release with `patched=False`, the control) and kill it
    mid-run, migrate the state database as `openclaw doctor --fix` does, then start
    `to_version`'s own code as process B on the same state dir and sweep. The persisted
    activeJobIds stay behind, unread. Returns the scenarios as B saw them."""
    old, new = fetch_release(from_version, cache), fetch_release(to_version, cache)
    # (A patched copy links the pristine release's dependency install: prepare it first.)
    pristine = prepare_release(old, cache, from_version)
    upgrade = prepare_release(new, cache, to_version, STATE_REPAIR)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(scratch(cache, "upgrade"))
        if not patched:
            return simulate(pristine, tmp / "work", upgrade=upgrade)
        copy = stack.enter_context(repaired_copy(old, cache))
        return simulate(pristine.rerooted(copy), tmp / "work", patched=True, upgrade=upgrade)
