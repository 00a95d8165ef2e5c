"""`apply`, `status` and `rollback`: the repair of the installs, as transactions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from patcher.cli.app import (
    JSON_OPTION,
    ROOT_OPTION,
    cache_of,
    epilog,
    guarded,
    main,
    roots,
    stages,
)
from patcher.cronstore.location import resolve_store
from patcher.errors import PatcherError
from patcher.repair import commands
from patcher.repair.commands import running_gateways
from patcher.repair.reports import RepairReport, StatusReport
from patcher.service.managers import units_for
from patcher.service.restart import (
    DEFAULT_WAIT_S,
    gateway_environment,
    restart_command,
    restart_gateway,
)


def _render_outcomes(report: RepairReport) -> None:
    for o in report.outcomes:
        if o.details.get("recovered"):
            click.echo(o.details["recovered"])
        if o.outcome == "would-apply":
            click.echo(o.details["diff"], nl=False)
        click.echo(f"{o.root} ({o.version}): {o.message}")
        for note in o.details.get("notes") or []:
            click.echo(f"  note: {note}")
        store = o.details.get("store")
        if store:
            click.echo(f"  store: {store['outcome']} {store.get('file') or ''}".rstrip())
        sim = o.details.get("simulation")
        if sim:
            click.echo(
                f"  restart simulation: {'every scenario passed' if sim['ok'] else 'FAILED'}"
            )
        if o.details.get("gateway"):
            click.echo(f"  {o.details['gateway']}")


RESTART_OPTION = click.option(
    "--restart",
    is_flag=True,
    help="Then restart the install's running gateway, once no cron run is in flight.",
)
WAIT_OPTION = click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_S,
    show_default=True,
    help="With --restart: seconds to wait for cron runs in flight to end.",
)


def _restart(outcomes, state_dir: str | None, restart: bool, wait_s: float, quiet: bool) -> None:
    """With --restart, restart each changed install's running gateway (each step in the
    outcome); without, say the exact command where one runs."""
    changed = [o for o in outcomes if o.outcome in ("applied", "already-applied", "rolled-back")]
    for o in changed:
        running = running_gateways(o.root, Path(state_dir) if state_dir else None)
        if not running:
            continue
        if not restart:
            command = restart_command(o.root, running, units_for(o.root))
            o.details["gateway"] = f"{o.details.get('gateway')}: {command}"
            continue
        # The store of the gateway that runs: --state-dir, else the one it was started with.
        running_in = state_dir or gateway_environment(running).get("OPENCLAW_STATE_DIR")
        location = resolve_store(Path(running_in) if running_in else None)
        progress = stages(not quiet)
        try:
            report = restart_gateway(o.root, location, wait_s=wait_s, progress=progress)
        except PatcherError as exc:
            done = "repaired" if o.outcome != "rolled-back" else "rolled back"
            why = f"{o.root} is {done}, but its gateway was not restarted: {exc}"
            raise type(exc)(why) from exc
        o.details["restart"] = report.to_json()
        o.details["gateway"] = (
            "the gateway was restarted and runs the changed install"
            if report.restarted
            else o.details.get("gateway")
        )


def _finish(report: RepairReport | StatusReport, as_json: bool) -> int:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    elif isinstance(report, RepairReport):
        _render_outcomes(report)
    else:
        for row in report.rows:
            if row.recovered:
                click.echo(row.recovered)
            d = row.detection
            click.echo(
                f"{d.install.root} ({d.install.version}, {d.verdict.status}): "
                f"{row.patch}: {row.message}"
            )
    return report.exit_code


@main.command(
    epilog=epilog(
        {
            0: "applied, already applied or nothing to repair",
            1: "the restart simulation failed on the patched install: every file rolled back",
        },
        "openclaw-patcher apply --dry-run",
        "openclaw-patcher apply --restart --wait 600",
    )
)
@ROOT_OPTION
@click.option("--state-dir", type=click.Path(), help="OpenClaw state dir whose store to migrate.")
@click.option("--dry-run", is_flag=True, help="Print the unified diff; write nothing.")
@click.option("--skip-simulation", is_flag=True, help="Do not run the restart simulation.")
@RESTART_OPTION
@WAIT_OPTION
@JSON_OPTION
@click.pass_context
@guarded
def apply(ctx, root, state_dir, dry_run, skip_simulation, restart, wait_s, as_json) -> int:
    """Repair an install in place: patch, migrate the store, prove it, or roll back."""
    cache = cache_of(ctx)
    outcomes = [
        commands.apply(
            r,
            cache,
            dry_run=dry_run,
            skip_simulation=skip_simulation,
            state_dir=Path(state_dir) if state_dir else None,
            progress=stages(not as_json),
        )
        for r in roots(root)
    ]
    _restart(outcomes, state_dir, restart and not dry_run, wait_s, as_json)
    return _finish(RepairReport("apply", outcomes), as_json)


@main.command(
    epilog=epilog(
        {
            0: "every install repaired or not affected",
            1: "an affected install is not repaired",
            3: "an install drifted from its record, or of an unknown code shape",
        },
        "openclaw-patcher status --json",
    )
)
@ROOT_OPTION
@JSON_OPTION
@click.pass_context
@guarded
def status(ctx, root, as_json) -> int:
    """Say whether each install is pristine, applied, drifted, or has nothing to patch."""
    cache = cache_of(ctx)
    return _finish(StatusReport([commands.status(r, cache) for r in roots(root)]), as_json)


@main.command(
    epilog=epilog(
        {0: "restored byte for byte (or nothing to roll back)"},
        "openclaw-patcher rollback --restart",
    )
)
@ROOT_OPTION
@click.option("--state-dir", type=click.Path(), help="With --restart: the gateway's state dir.")
@RESTART_OPTION
@WAIT_OPTION
@JSON_OPTION
@click.pass_context
@guarded
def rollback(ctx, root, state_dir, restart, wait_s, as_json) -> int:
    """Restore every patched file byte-identical to the release."""
    cache = cache_of(ctx)
    outcomes = [commands.rollback(r, cache) for r in roots(root)]
    _restart(outcomes, state_dir, restart, wait_s, as_json)
    return _finish(RepairReport("rollback", outcomes), as_json)
