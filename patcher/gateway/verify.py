"""`verify --gateway`: the restart contract on the real `openclaw gateway`, pristine and
patched, with the same report and verdict as `verify`.

`--release V` installs the release with every dependency into the cache (`npm install
openclaw@V`, once); `--root DIR` takes the user's install as it is. Neither is ever
written: each side runs on a hard-linked copy (the gateway may create files in its own
install, 2026.4.x its plugins' dependency folders), the pristine side on a plain copy, the
patched side on a copy repaired by `apply` and rolled back afterwards, as `verify` does.
The state is always a scratch one, the network loopback only (patcher.gateway.isolation).
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from patcher.cache import layout
from patcher.cache.content import touch_used
from patcher.cache.releases import check_version_text, fetch_release
from patcher.cache.scratch import scratch
from patcher.detection.detect import detect_install
from patcher.detection.families import AFFECTED, UNKNOWN
from patcher.detection.install import open_install
from patcher.errors import RefusedError
from patcher.files.locks import waiting
from patcher.gateway.isolation import IsolatedFailure, can_isolate, run_isolated_all
from patcher.gateway.model import ModelServer
from patcher.gateway.process import GatewayFailed, GatewayRun
from patcher.gateway.scenarios import run_side, side_from_json
from patcher.repair.plan import PlanRefused, plan, range_notes, specs_for
from patcher.simulation.harness import install_with_stand_ins
from patcher.simulation.node import find_node
from patcher.simulation.scenarios import SideResult, side_summary
from patcher.simulation.substitutes import Substitutions
from patcher.system.cores import usable_cores
from patcher.verification.copies import (
    plain_copy,
    repaired_copy,
    rolled_back_identical,
    unpatched_copy,
)
from patcher.verification.verify import VerifyReport

Progress = Callable[[str], None]


def full_install(version: str, cache: Path, progress: Progress) -> tuple[Path, Substitutions]:
    """The release installed with every dependency (`npm install`, scripts off), once per
    cache; returns the package root, and what stood in for packages the build pins at a
    version the registry does not publish (a user's install has them; see
    patcher.simulation.substitutes)."""
    check_version_text(version)
    folder = layout.full_install_dir(cache, version)
    root = folder / "node_modules" / "openclaw"
    stamp = folder / ".installed"
    record = folder / ".substituted.json"
    touch_used(cache, version)
    with waiting(layout.full_install_lock(cache, version)):
        if not stamp.is_file():
            # One sentence for a version npm does not publish; what a stub must export is
            # read from this.
            release = fetch_release(version, cache)
            progress(f"installing openclaw@{version} with its dependencies (about a minute)")
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            found = install_with_stand_ins(
                folder, {"openclaw": version}, {}, {}, Substitutions(), release
            )
            record.write_text(json.dumps(found.to_json(), indent=2))
            stamp.write_text(version)
    saved = json.loads(record.read_text()) if record.is_file() else None
    return root, Substitutions.from_json(saved)


def _work(
    root: Path, *, node: Path, cache: Path, progress: Progress, real_clock: bool
) -> Callable[[], dict]:
    """One side's scenarios on the install at `root`, as a JSON-able result."""

    def work() -> dict:
        model = ModelServer().start()
        try:
            with scratch(cache, "gateway-state") as folder:
                run = GatewayRun(root, node, folder, model, real_clock=real_clock)
                return run_side(run, progress).to_json(pristine=True)
        finally:
            model.stop()

    return work


def _run_sides(works: list[Callable[[], dict]]) -> tuple[list[SideResult], bool]:
    """The sides (at once where each gets a namespace of its own), and whether the network
    was isolated."""
    try:
        done = run_isolated_all(works)
    except (IsolatedFailure, GatewayFailed) as exc:
        raise GatewayFailed(f"the gateway check could not run: {exc}") from exc
    return [side_from_json(result) for result, _ in done], all(i for _, i in done)


def _labelled(progress: Progress, label: str) -> Progress:
    """Progress lines of one of two sides running at once, each saying whose it is."""
    return lambda line: progress(f"{label}: {line}")


@contextlib.contextmanager
def _pristine_copy(
    report: VerifyReport, root: Path, cache: Path, progress: Progress, repaired: bool
) -> Iterator[Path]:
    """The negative control's install. For an install apply repaired, the release put back
    from apply's backups (what rollback restores), which then must carry no trace of the
    repair."""
    if not repaired:
        progress("pristine side: the release as published")
        with plain_copy(root, cache) as copy:
            yield copy
        return
    progress("pristine side: the release rebuilt from apply's backups")
    with unpatched_copy(root, cache) as copy:
        # unpatched_copy checked that the backups restore the release, as rollback would.
        report.rollback_identical = True
        yield copy


@contextlib.contextmanager
def _patched_copy(
    report: VerifyReport, root: Path, cache: Path, progress: Progress, repaired: bool
) -> Iterator[Path]:
    """The repaired gateway's install: the install as it is when apply repaired it, else a
    copy repaired by apply and, once its side has run, rolled back and compared."""
    if repaired:
        progress("patched side: the repaired install as it is")
        with plain_copy(root, cache) as copy:
            yield copy
        return
    progress("patched side: a copy repaired by apply")
    with repaired_copy(root, cache) as copy:
        yield copy
        progress("rollback of the patched copy")
        report.rollback_identical = rolled_back_identical(copy, root, cache)


def verify_gateway(
    root: Path,
    cache: Path,
    progress: Progress,
    *,
    real_clock: bool = False,
    substitutions: Substitutions | None = None,
) -> VerifyReport:
    """The pristine and the patched side on the real gateway of the install at `root`;
    `real_clock`: wait out the five-minute grace instead of moving the clock (about 15
    minutes a side); `substitutions`: what stood in for unpublished packages when the
    install was made (said in the report)."""
    detection = detect_install(open_install(root))
    install, verdict = detection.install, detection.verdict
    report = VerifyReport(install.root, install.version, verdict.status, verdict.family)
    report.notes.extend(verdict.notes)
    if substitutions:
        report.substituted = dict(substitutions.versions)
        report.stubs = dict(substitutions.stubs)
        report.notes.extend(substitutions.describe())
    if verdict.status == UNKNOWN:
        raise RefusedError(
            f"{install.root}: {verdict.reason}; verify refuses an unknown code shape."
        )
    if not (install.root / "openclaw.mjs").is_file():
        raise RefusedError(f"{install.root} has no openclaw.mjs: the gateway cannot be started.")
    node = find_node(install.engines_node, cache, install.root).path
    reconciles = bool(detection.bundles.facts("sweeper").get("cron_branch"))
    specs = specs_for(verdict.family, verdict.store) if verdict.status == AFFECTED else []
    report.notes.extend(range_notes(specs, install.version))
    repaired = False
    if specs:
        try:
            repaired = plan(install.root, detection.bundles, specs, verdict.store).applied
        except PlanRefused as exc:
            report.notes.append(f"the repair cannot be planned here: {exc}")
            specs = []
    work = functools.partial(
        _work, node=node, cache=cache, progress=progress, real_clock=real_clock
    )
    # A side is minutes of waiting on the gateway's own timers, not CPU: with a second core
    # and a namespace for each, the patched side runs at once with the pristine.
    at_once = bool(specs) and verdict.status == AFFECTED and can_isolate() and usable_cores() >= 2
    with contextlib.ExitStack() as stack:
        copies = {"pristine": _pristine_copy(report, install.root, cache, progress, repaired)}
        if at_once:
            copies["patched"] = _patched_copy(report, install.root, cache, progress, repaired)
        works = [
            work(
                stack.enter_context(copy),
                progress=_labelled(progress, label) if at_once else progress,
            )
            for label, copy in copies.items()
        ]
        sides, isolated = _run_sides(works)
    report.pristine = sides[0]
    report.pristine.cron_reconciliation = reconciles
    report.notes.append("clock: real (the grace waited out)" if real_clock else "clock: shifted")
    report.notes.append(
        "network: a namespace with loopback only"
        if isolated
        else "network: not isolated (needs root on Linux); the configuration keeps it on loopback"
    )
    if at_once:
        report.patched = sides[1]
        report.patched.cron_reconciliation = reconciles
    elif verdict.status == AFFECTED and specs and report.pristine.bug_reproduced:
        with _patched_copy(report, install.root, cache, progress, repaired) as copy:
            report.patched = _run_sides([work(copy)])[0][0]
        report.patched.cron_reconciliation = reconciles
    report.summary = _summary(report, verdict.status, bool(specs))
    return report


def _summary(report: VerifyReport, status: str, covered: bool) -> str:
    if status != AFFECTED:
        return (
            f"{status}: every scenario holds on the real gateway"
            if report.pristine.ok
            else f"{status}, but the real gateway shows: {side_summary(report.pristine)}"
        )
    if not report.pristine.bug_reproduced:
        return (
            "negative control failed: the bug did not show on the pristine gateway of this "
            "affected release, so the check proves nothing here"
        )
    if not covered or report.patched is None:
        return "affected: the bug shows on the real gateway; no patch spec covers it"
    if report.patched.ok and report.rollback_identical:
        return (
            "bug reproduced on the pristine gateway; the repaired gateway holds every "
            "scenario, and rollback restores it byte for byte"
        )
    if not report.patched.ok:
        return f"the repaired gateway fails: {side_summary(report.patched)}"
    return "the repaired gateway holds, but rollback does not restore every file"
