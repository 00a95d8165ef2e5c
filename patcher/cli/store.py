"""`store validate` and `store migrate`: the cron store's files against schemas/, and
`activeJobIds` added to it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from patcher.cache.layout import store_lock
from patcher.cli.app import JSON_OPTION, cache_of, epilog, guarded, main
from patcher.cronstore.location import resolve_store
from patcher.cronstore.model import Migration
from patcher.cronstore.store import StoreReport, check_single_file, inspect_store, migrate_store
from patcher.errors import EXIT_OK, UsageError

STATE_DIR_HELP = "OpenClaw state dir (default: as OpenClaw resolves it)."


def _render_report(report: StoreReport) -> None:
    loc = report.location
    click.echo(f"cron store: {loc.jobs_path} ({loc.source}; {report.kind})")
    if report.kind == "none":
        click.echo("  no store file yet: OpenClaw creates it on its first save")
    for f in report.files:
        fmt = f.document.format if f.document else f.role
        if f.valid:
            click.echo(f"  {f.path.name:<18} valid ({fmt})")
            continue
        if f.error or f.version_error:
            click.echo(f"  {f.path.name:<18} {f.error or f.version_error}")
            continue
        click.echo(f"  {f.path.name:<18} {len(f.problems)} problem(s) ({fmt})")
        for p in f.problems:
            click.echo(f"    {p.pointer or '/'}: {p.message}")
    if report.sqlite is not None:
        facts = report.sqlite
        click.echo(f"  SQLite store {facts['path']} (read-only)")
        keys = ("store_key", "cron_jobs", "running_job_ids", "active_job_ids", "task_runs")
        for key in keys:
            if key in facts:
                click.echo(f"    {key}: {facts[key]}")


@main.group()
def store() -> None:
    """Validate the cron store and migrate it to carry activeJobIds."""


@store.command(
    "validate",
    epilog=epilog(
        {0: "valid", 2: "invalid or unreadable", 3: "a store version this tool does not know"},
        "openclaw-patcher store validate --state-dir ~/.openclaw --json",
    ),
)
@click.option("--state-dir", type=click.Path(), help=STATE_DIR_HELP)
@click.option("--file", "file_", type=click.Path(), help="Validate this one store file.")
@JSON_OPTION
@guarded
def store_validate(state_dir: str | None, file_: str | None, as_json: bool) -> int:
    """Validate each cron store file against the JSON Schemas in schemas/."""
    if state_dir and file_:
        raise UsageError("--state-dir and --file exclude each other: pass one of them.")
    if file_:
        report = check_single_file(Path(file_))
    else:
        report = inspect_store(resolve_store(Path(state_dir) if state_dir else None))
    if as_json:
        click.echo(json.dumps(report.envelope(), indent=2))
    else:
        _render_report(report)
    return report.exit_code


def _render_migration(result: Migration, dry_run: bool) -> None:
    ids = ", ".join(result.active_job_ids) or "none running"
    if result.outcome == "nothing-to-migrate":
        click.echo("no cron store file yet: nothing to migrate")
    elif result.outcome == "already-migrated":
        click.echo(f"already migrated: {result.path} carries activeJobIds ({ids})")
    elif result.outcome == "would-migrate":
        click.echo(f"would add activeJobIds ({ids}) to {result.path}; nothing written (--dry-run)")
    else:
        click.echo(f"migrated: added activeJobIds ({ids}) to {result.path}")
        click.echo(f"backup of the original: {result.backup}")
    if result.through_link is not None and result.path is not None:
        click.echo(
            f"note: {result.path.parent} is reached through a symlink: the file lives in "
            f"{result.through_link}, where OpenClaw itself writes it"
        )
    if result.rewritten_from_json5:
        verb = "will be" if dry_run else "was"
        click.echo(
            f"note: {result.path} was JSON5 and {verb} rewritten as JSON, "
            "as OpenClaw itself does on its next save"
        )


@store.command(
    "migrate",
    epilog=epilog(
        {0: "migrated (backed up first), or nothing to migrate"},
        "openclaw-patcher store migrate --dry-run",
    ),
)
@click.option("--state-dir", type=click.Path(), help=STATE_DIR_HELP)
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@JSON_OPTION
@click.pass_context
@guarded
def store_migrate(ctx: click.Context, state_dir: str | None, dry_run: bool, as_json: bool) -> int:
    """Add activeJobIds (seeded from state.runningAtMs) to the store's runtime-state file."""
    location = resolve_store(Path(state_dir) if state_dir else None)
    with store_lock(cache_of(ctx), location.state_dir):
        result = migrate_store(location, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(result.envelope(), indent=2))
    else:
        _render_migration(result, dry_run)
    return EXIT_OK
