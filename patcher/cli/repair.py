"""`apply`, `status` and `rollback`: the repair of the installs, as transactions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from patcher.cli.app import JSON_OPTION, ROOT_OPTION, cache_of, guarded, main, roots
from patcher.repair import commands
from patcher.repair.reports import RepairReport, StatusReport


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


@main.command()
@ROOT_OPTION
@click.option("--state-dir", type=click.Path(), help="OpenClaw state dir whose store to migrate.")
@click.option("--dry-run", is_flag=True, help="Print the unified diff; write nothing.")
@click.option("--skip-simulation", is_flag=True, help="Do not run the restart simulation.")
@JSON_OPTION
@click.pass_context
@guarded
def apply(ctx, root, state_dir, dry_run, skip_simulation, as_json) -> int:
    """Repair an install in place: patch, migrate the store, prove it, or roll back."""
    cache = cache_of(ctx)
    outcomes = [
        commands.apply(
            r,
            cache,
            dry_run=dry_run,
            skip_simulation=skip_simulation,
            state_dir=Path(state_dir) if state_dir else None,
        )
        for r in roots(root)
    ]
    return _finish(RepairReport("apply", outcomes), as_json)


@main.command()
@ROOT_OPTION
@JSON_OPTION
@click.pass_context
@guarded
def status(ctx, root, as_json) -> int:
    """Say whether each install is pristine, applied, drifted, or has nothing to patch."""
    cache = cache_of(ctx)
    return _finish(StatusReport([commands.status(r, cache) for r in roots(root)]), as_json)


@main.command()
@ROOT_OPTION
@JSON_OPTION
@click.pass_context
@guarded
def rollback(ctx, root, as_json) -> int:
    """Restore every patched file byte-identical to the release."""
    cache = cache_of(ctx)
    outcomes = [commands.rollback(r, cache) for r in roots(root)]
    return _finish(RepairReport("rollback", outcomes), as_json)
