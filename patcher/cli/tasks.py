"""`tasks repair`: the cron task records #79196 already marked lost, restored from durable
evidence of each run's real outcome (patcher.taskrecords.repair)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from patcher.cache.layout import store_lock
from patcher.cli.app import JSON_OPTION, cache_of, epilog, guarded, main
from patcher.cli.store import STATE_DIR_HELP
from patcher.cronstore.location import resolve_store
from patcher.errors import EXIT_OK
from patcher.taskrecords.repair import RepairReport, repair


@main.group()
def tasks() -> None:
    """Repair OpenClaw's task records that #79196 marked lost."""


def _render(report: RepairReport) -> None:
    verb = "would restore" if report.dry_run else "restored"
    click.echo(f"task registry: {report.database}")
    if not report.restored and not report.without_evidence:
        click.echo('nothing to repair: no cron record is lost with "backing session missing"')
    for change in report.restored:
        o = change.outcome
        click.echo(f"  {verb} {change.run_id}: {o.status} ({o.source})")
    for change in report.without_evidence:
        click.echo(f"  left lost (no evidence of its outcome): {change.run_id}")
    if report.dry_run and report.restored:
        click.echo("dry run: nothing written")
    if report.backup:
        click.echo(f"backup of the database before the change: {report.backup}")


@tasks.command(
    "repair",
    epilog=epilog(
        {
            0: "restored what has evidence (or nothing to repair)",
            2: "the registry is corrupt",
            3: "the gateway holds the registry's write lock",
        },
        "openclaw-patcher tasks repair --dry-run",
    ),
)
@click.option("--state-dir", type=click.Path(), help=STATE_DIR_HELP)
@click.option("--dry-run", is_flag=True, help="List what would change; write nothing.")
@JSON_OPTION
@click.pass_context
@guarded
def tasks_repair(ctx: click.Context, state_dir: str | None, dry_run: bool, as_json: bool) -> int:
    """Restore cron records marked lost ("backing session missing") whose run's outcome the
    run log or the job's state records; list the others."""
    location = resolve_store(Path(state_dir) if state_dir else None)
    with store_lock(cache_of(ctx), location.state_dir):
        report = repair(location, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _render(report)
    return EXIT_OK
