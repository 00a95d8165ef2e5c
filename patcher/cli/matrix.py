"""`matrix`: verify every selected release, in parallel, in one report."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from patcher.cache import releases
from patcher.cache.content import parse_size
from patcher.cli.app import cache_of, epilog, guarded, main
from patcher.errors import EXIT_OK, PatcherError, UsageError
from patcher.files.atomic import check_destination
from patcher.matrix import reports
from patcher.matrix import run as m


def _emit(text: str, destination: Path | None) -> None:
    if destination is None:
        click.echo(text, nl=False)
    else:
        m.write_report(text, destination)


@main.command(
    epilog=epilog(
        {0: "every release as required", 1: "a release failed its verdict or was not verified"},
        "openclaw-patcher matrix --versions '>=2026.4.5,<2026.8' --format junit --output m.xml",
    )
)
@click.option(
    "--versions",
    "spec",
    default="all",
    show_default=True,
    help="`all`, `new` (published since the last run) or a specifier: '>=2026.4.5,<2026.8'.",
)
@click.option("--betas", is_flag=True, help="Include beta releases.")
@click.option(
    "--jobs", type=click.IntRange(min=1), help="Releases verified at once (default: cores)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "junit"]),
    default="text",
    show_default=True,
)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report here.")
@click.option("--list-json", is_flag=True, help="Print the selected versions as a JSON list.")
@click.option(
    "--max-cache",
    metavar="SIZE",
    help="Cap the cache's disk use (8G, 500M): least recently used releases are evicted.",
)
@click.option(
    "--merge",
    type=click.Path(file_okay=False, exists=True),
    help="Report the rows of the `--format json` reports in this folder; verify nothing.",
)
@click.option(
    "--expect",
    metavar="JSON",
    help="With --merge: the versions that must have a row (a JSON list, as --list-json prints).",
)
@click.option(
    "--gateway",
    is_flag=True,
    help="Also run verify --gateway per release: the real gateway (minutes each).",
)
@click.pass_context
@guarded
def matrix(
    ctx, spec, betas, jobs, fmt, output, list_json, max_cache, merge, expect, gateway
) -> int:
    """Verify every selected release (pristine, patched, rollback) and report a table."""
    cache = cache_of(ctx)
    destination = Path(output) if output else None
    if destination is not None:  # before minutes of work, not after
        check_destination(destination)
    if expect and not merge:
        raise UsageError("--expect goes with --merge: pass both, or neither.")
    if merge:
        rows = m.merged(Path(merge), expect)
        _emit(reports.RENDERERS[fmt](rows), destination)
        with contextlib.suppress(PatcherError):  # a finished run: `new` starts after it
            m.record_run(cache, releases.list_versions())
        return m.exit_code(rows)
    listed = releases.list_versions()
    versions = m.selected(spec, listed, betas=betas, cache=cache)
    if list_json:
        click.echo(json.dumps(versions))
        return EXIT_OK
    if not versions:
        click.echo("no release was published since the last run: nothing to verify", err=True)
        return EXIT_OK
    cap = parse_size(max_cache) if max_cache else None
    with reports.progress(len(versions), on_terminal=sys.stderr.isatty()) as show:
        rows = m.run_within(versions, cache, jobs or m.default_jobs(), show, cap, gateway)
    _emit(reports.RENDERERS[fmt](rows), destination)
    m.record_run(cache, listed)  # what `--versions new` compares with next time
    return m.exit_code(rows)
