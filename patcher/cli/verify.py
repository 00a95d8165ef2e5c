"""`verify`: the restart scenarios on a release's own code, pristine, patched, rolled back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from patcher.cache.releases import fetch_release
from patcher.cli.app import JSON_OPTION, announce_fetch, cache_of, epilog, guarded, main, stages
from patcher.detection.families import AFFECTED
from patcher.errors import UsageError
from patcher.verification.verify import VerifyReport, verify_install


def _render_side(title: str, side: dict, expect_bug: bool) -> None:
    """One side of verify, with what it must show: the pristine side of an affected
    release is the negative control, so its scenarios are expected to fail there."""
    failed = sum(1 for s in side["scenarios"].values() if not s["passed"])
    total = len(side["scenarios"])
    took = f"{side['seconds']} s, node {side['node']}"
    if "bug_reproduced" not in side:
        must = "must hold every scenario"
        outcome = "every scenario holds" if side["ok"] else f"FAILED: {failed} of {total} fail"
    elif expect_bug:
        must = "the negative control, must show the bug"
        outcome = (
            f"bug reproduced, as required: {failed} of {total} scenarios fail"
            if side["bug_reproduced"]
            else "bug NOT reproduced: the check could not fail here, so it proves nothing"
        )
    else:
        must = "must not show the bug"
        outcome = (
            "bug shows: FAILED" if side["bug_reproduced"] else "bug not reproduced, as required"
        )
    click.echo(f"{title} ({must}): {outcome} ({took})")
    for name, scenario in side["scenarios"].items():
        if scenario["passed"]:
            word = "holds"
        else:
            word = "fails, as expected" if expect_bug and side.get("bug_reproduced") else "FAILS"
        click.echo(f"  {word:<18}  {name}")
        for failure in scenario["failures"]:
            click.echo(f"        {failure}")
        for note in scenario["notes"]:
            click.echo(f"        note: {note}")


def _render(report: VerifyReport) -> None:
    click.echo(
        f"openclaw {report.version} ({report.status}, {report.family or '-'}) at {report.root}"
    )
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.pristine is not None:
        side = report.pristine.to_json(pristine=True)
        _render_side("pristine release", side, expect_bug=report.status == AFFECTED)
    if report.patched is not None:
        title = "patched copy" if report.pristine is not None else "patched install"
        _render_side(title, report.patched.to_json(pristine=False), expect_bug=False)
    if report.rollback_identical is not None:
        same = "byte-identical, as required" if report.rollback_identical else "NOT identical"
        click.echo(f"rollback of the patched copy (must restore every byte): {same}")
    verdict = report.verdict
    substituted = report.substituted or report.stubs
    with_subs = " (verified with substitutions, see the notes)" if substituted else ""
    click.echo(
        f"verdict: {'as required' if verdict.ok else 'NOT as required'}: {report.summary}"
        f"{with_subs}"
    )


@main.command(
    epilog=epilog(
        {
            0: "as required: the pristine side shows the bug where affected, the patched side "
            "holds, rollback is byte-identical",
            1: "not as required",
        },
        "openclaw-patcher verify --release 2026.4.22",
        "openclaw-patcher verify --root /usr/lib/node_modules/openclaw --json",
    )
)
@click.option("--root", type=click.Path(), help="Verify this install, with its own node_modules.")
@click.option("--release", "version", help="Fetch this release with the npm CLI and verify it.")
@click.option(
    "--gateway",
    is_flag=True,
    help="Run the real `openclaw gateway` (minutes; --release installs it whole).",
)
@click.option(
    "--clock",
    type=click.Choice(["shifted", "real"]),
    default="shifted",
    show_default=True,
    help="With --gateway: move the clock past the grace, or wait it out (~15 min a side).",
)
@JSON_OPTION
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Stage lines on stderr (default: on, off with --json).",
)
@click.pass_context
@guarded
def verify(
    ctx: click.Context,
    root: str | None,
    version: str | None,
    gateway: bool,
    clock: str,
    as_json: bool,
    progress: bool | None,
) -> int:
    """Run the restart scenarios on a release's own code: pristine, patched, rolled back."""
    if bool(root) == bool(version):
        raise UsageError("pass exactly one of --root DIR and --release VERSION.")
    if clock == "real" and not gateway:
        raise UsageError("--clock goes with --gateway: the simulation moves its own clock.")
    cache = cache_of(ctx)
    fetch_notes: list[str] = []
    say = stages(progress if progress is not None else not as_json)
    if gateway:
        from patcher.gateway.verify import full_install, verify_gateway

        target, stand_ins = full_install(version, cache, say) if version else (Path(root), None)
        report = verify_gateway(
            target, cache, say, real_clock=clock == "real", substitutions=stand_ins
        )
    else:
        if version:
            announce_fetch(cache, version, say)
        target = fetch_release(version, cache, fetch_notes) if version else Path(root)
        report = verify_install(target, cache, fetched=bool(version), progress=say)
        say("done")
    report.notes[:0] = fetch_notes
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _render(report)
    return report.exit_code
