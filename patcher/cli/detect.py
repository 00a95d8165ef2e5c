"""`detect`: find installs, map their cron bundles by content, judge each release."""

from __future__ import annotations

import json
from pathlib import Path

import click

from patcher.cli.app import cache_of, epilog, guarded, main
from patcher.detection.install import no_install_found, open_install
from patcher.repair.reports import DetectReport
from patcher.repair.state import detect as detect_with_patch_state


def _render(report: DetectReport) -> None:
    header = ("VERSION", "STATUS", "PATCH", "FAMILY", "ROOT")
    rows = [
        (d.install.version, d.verdict.status, patch, d.verdict.family or "-", str(d.install.root))
        for d, patch in zip(report.detections, report.patches, strict=True)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    for d in report.detections:
        click.echo(
            f"\n{d.install.root} ({d.install.version}, found by {', '.join(d.install.found_by)})"
        )
        if d.verdict.reason:
            click.echo(f"  unknown: {d.verdict.reason}")
        files, copies = d.bundles.files(d.install.root), d.bundles.copy_files(d.install.root)
        for role, paths in files.items():
            shown = ", ".join(paths) or "-"
            extra = f"  (+ copies: {', '.join(copies[role])})" if copies[role] else ""
            click.echo(f"  {role:<13} {shown}{extra}")
        if d.verdict.store:
            click.echo(f"  {'store':<13} {d.verdict.store}")
        for note in d.verdict.notes:
            click.echo(f"  note: {note}")


@main.command(
    epilog=epilog(
        {0: "installs found and judged", 1: "no install found"},
        "openclaw-patcher detect",
        "openclaw-patcher detect --root ~/.npm-global/lib/node_modules/openclaw --json",
    )
)
@click.option("--root", type=click.Path(), help="An OpenClaw package root (skips discovery).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@guarded
def detect(ctx: click.Context, root: str | None, as_json: bool) -> int:
    """Find OpenClaw installs, map their cron bundles by content, and judge each release."""
    installs = [open_install(Path(root))] if root else None
    report = detect_with_patch_state(installs, cache_of(ctx))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    elif report.detections:
        _render(report)
    if not report.detections:
        click.echo(no_install_found(), err=True)
    return report.exit_code
