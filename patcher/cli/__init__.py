"""The command line: parse, call the library, render, return the documented exit code."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import NoReturn

import click

from patcher import __version__
from patcher.detection.families import AFFECTED, UNKNOWN
from patcher.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    PatcherError,
    UsageError,
    from_os_error,
)
from patcher.files.atomic import check_destination, write_text_atomic

CACHE_HELP = "Cache for fetched releases (default: $OPENCLAW_PATCHER_CACHE or the user cache dir)."
ROOT_OPTION = click.option(
    "--root", type=click.Path(), help="An OpenClaw package root (default: discovered)."
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _guarded(fn: Callable[..., int]) -> Callable[..., None]:
    """Map expected failures to one sentence and their exit code; never show a traceback."""

    @wraps(fn)
    def wrapper(*args, **kwargs) -> None:
        try:
            code = fn(*args, **kwargs)
        except PatcherError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as command-line tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except click.exceptions.ClickException:
            raise
        except OSError as exc:  # a full disk, a read-only mount, missing rights: say which
            known = from_os_error(exc)
            if known is None:
                _crash(exc)
            click.echo(f"error: {known}", err=True)
            sys.exit(known.exit_code)
        except Exception as exc:  # an unexpected failure is a bug: keep the details in a log
            _crash(exc)
        sys.exit(code)

    return wrapper


def _crash(exc: BaseException) -> NoReturn:
    log = _write_crash_log(exc)
    click.echo(
        f"error: an unexpected error has occurred ({type(exc).__name__}: {exc}); "
        f"details are in {log}; please report it.",
        err=True,
    )
    sys.exit(EXIT_REFUSED)


def _write_crash_log(exc: BaseException) -> Path:
    from patcher.cache.layout import cache_dir

    log = cache_dir() / "crash.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            f"openclaw-patcher {__version__}, Python {sys.version}\n"
            + "".join(traceback.format_exception(exc))
        )
    except OSError:
        return Path("(no log: the cache dir is not writable)")
    return log


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="openclaw-patcher")
@click.option("--cache-dir", type=click.Path(file_okay=False), help=CACHE_HELP)
@click.pass_context
def main(ctx: click.Context, cache_dir: str | None) -> None:
    """Repair OpenClaw installs for openclaw/openclaw#79196 and prove it on their own code."""
    ctx.obj = {"cache_dir": cache_dir}


def _render_detections(detections) -> None:
    header = ("VERSION", "STATUS", "PATCH", "FAMILY", "ROOT")
    rows = [
        (
            d.install.version,
            d.verdict.status,
            d.patch,
            d.verdict.family or "-",
            str(d.install.root),
        )
        for d in detections
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    for d in detections:
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


@main.command()
@click.option("--root", type=click.Path(), help="An OpenClaw package root (skips discovery).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@_guarded
def detect(ctx: click.Context, root: str | None, as_json: bool) -> int:
    """Find OpenClaw installs, map their cron bundles by content, and judge each release."""
    from patcher.cache.layout import cache_dir
    from patcher.detection.detect import DETECT_SCHEMA, detect_installs
    from patcher.detection.install import open_install

    installs = [open_install(Path(root))] if root else None
    detections = detect_installs(installs, cache=cache_dir(ctx.obj["cache_dir"]))
    if as_json:
        payload = {"schema": DETECT_SCHEMA, "installs": [d.to_json() for d in detections]}
        click.echo(json.dumps(payload, indent=2))
    elif detections:
        _render_detections(detections)
    if not detections:
        click.echo(
            "No OpenClaw install was found on PATH or in the npm, pnpm, yarn, bun, nvm, fnm, "
            "volta or Homebrew global folders; pass --root DIR.",
            err=True,
        )
        return EXIT_CHECK_FAILED
    if any(d.verdict.status == UNKNOWN for d in detections):
        return EXIT_REFUSED
    return EXIT_OK


def _render_store_report(report) -> None:
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


@store.command("validate")
@click.option(
    "--state-dir", type=click.Path(), help="OpenClaw state dir (default: as OpenClaw resolves it)."
)
@click.option("--file", "file_", type=click.Path(), help="Validate this one store file.")
@JSON_OPTION
@_guarded
def store_validate(state_dir: str | None, file_: str | None, as_json: bool) -> int:
    """Validate each cron store file against the JSON Schemas in schemas/."""
    from patcher.cronstore.location import resolve_store
    from patcher.cronstore.store import check_single_file, inspect_store
    from patcher.errors import EXIT_USAGE, UsageError

    if state_dir and file_:
        raise UsageError("--state-dir and --file exclude each other: pass one of them.")
    if file_:
        report = check_single_file(Path(file_))
    else:
        report = inspect_store(resolve_store(Path(state_dir) if state_dir else None))
    if as_json:
        click.echo(
            json.dumps(
                {"schema": "openclaw-patcher/store-validate/1", **report.to_json()}, indent=2
            )
        )
    else:
        _render_store_report(report)
    if report.version_errors:
        return EXIT_REFUSED
    return EXIT_OK if report.valid else EXIT_USAGE


@store.command("migrate")
@click.option(
    "--state-dir", type=click.Path(), help="OpenClaw state dir (default: as OpenClaw resolves it)."
)
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@JSON_OPTION
@click.pass_context
@_guarded
def store_migrate(ctx: click.Context, state_dir: str | None, dry_run: bool, as_json: bool) -> int:
    """Add activeJobIds (seeded from state.runningAtMs) to the store's runtime-state file."""
    from patcher.cache.layout import cache_dir, store_lock
    from patcher.cronstore.location import resolve_store
    from patcher.cronstore.store import migrate_store

    location = resolve_store(Path(state_dir) if state_dir else None)
    with store_lock(cache_dir(ctx.obj["cache_dir"]), location.state_dir):
        result = migrate_store(location, dry_run=dry_run)
    if as_json:
        click.echo(
            json.dumps({"schema": "openclaw-patcher/store-migrate/1", **result.to_json()}, indent=2)
        )
        return EXIT_OK
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
    if result.through_link is not None:
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
    return EXIT_OK


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


@main.command()
@click.option("--root", type=click.Path(), help="Verify this install, with its own node_modules.")
@click.option("--release", "version", help="Fetch this release with the npm CLI and verify it.")
@JSON_OPTION
@click.pass_context
@_guarded
def verify(ctx: click.Context, root: str | None, version: str | None, as_json: bool) -> int:
    """Run the restart scenarios on a release's own code (pristine, and patched once it exists)."""
    from patcher.cache.layout import cache_dir
    from patcher.cache.releases import fetch_release
    from patcher.errors import UsageError
    from patcher.verification.verify import verify_install

    if bool(root) == bool(version):
        raise UsageError("pass exactly one of --root DIR and --release VERSION.")
    cache = cache_dir(ctx.obj["cache_dir"])
    fetch_notes: list[str] = []
    target = fetch_release(version, cache, fetch_notes) if version else Path(root)
    report = verify_install(target, cache, fetched=bool(version))
    report.notes[:0] = fetch_notes
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(
            f"openclaw {report.version} ({report.status}, {report.family or '-'}) at {report.root}"
        )
        for note in report.notes:
            click.echo(f"note: {note}")
        affected = report.status == AFFECTED
        if report.pristine is not None:
            side = report.pristine.to_json(pristine=True)
            _render_side("pristine release", side, expect_bug=affected)
        if report.patched is not None:
            title = "patched copy" if report.pristine is not None else "patched install"
            _render_side(title, report.patched.to_json(pristine=False), expect_bug=False)
        if report.rollback_identical is not None:
            same = "byte-identical, as required" if report.rollback_identical else "NOT identical"
            click.echo(f"rollback of the patched copy (must restore every byte): {same}")
        verdict = report.verdict
        click.echo(
            f"verdict: {'as required' if verdict.ok else 'NOT as required'}: {report.summary}"
        )
    return report.exit_code


def _roots(root: str | None) -> list[Path]:
    from patcher.detection.install import discover, open_install

    if root:
        return [open_install(Path(root)).root]
    installs = discover()
    if not installs:
        raise UsageError(
            "no OpenClaw install was found on PATH or in the usual global folders: pass --root DIR."
        )
    return [i.root for i in installs]


@main.command()
@ROOT_OPTION
@click.option("--state-dir", type=click.Path(), help="OpenClaw state dir whose store to migrate.")
@click.option("--dry-run", is_flag=True, help="Print the unified diff; write nothing.")
@click.option("--skip-simulation", is_flag=True, help="Do not run the restart simulation.")
@JSON_OPTION
@click.pass_context
@_guarded
def apply(ctx, root, state_dir, dry_run, skip_simulation, as_json) -> int:
    """Repair an install in place: patch, migrate the store, prove it, or roll back."""
    from patcher.cache.layout import cache_dir
    from patcher.repair import commands as patching

    cache = cache_dir(ctx.obj["cache_dir"])
    outcomes = [
        patching.apply(
            r,
            cache,
            dry_run=dry_run,
            skip_simulation=skip_simulation,
            state_dir=Path(state_dir) if state_dir else None,
        )
        for r in _roots(root)
    ]
    if as_json:
        payload = {
            "schema": "openclaw-patcher/apply/1",
            "installs": [o.to_json() for o in outcomes],
        }
        click.echo(json.dumps(payload, indent=2))
        return EXIT_OK
    for o in outcomes:
        if o.details.get("recovered"):
            click.echo(o.details["recovered"])
        if o.outcome == "would-apply":
            click.echo(o.details["diff"], nl=False)
        click.echo(f"{o.root} ({o.version}): {o.message}")
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
    return EXIT_OK


@main.command()
@ROOT_OPTION
@JSON_OPTION
@click.pass_context
@_guarded
def status(ctx, root, as_json) -> int:
    """Say whether each install is pristine, applied, drifted, or has nothing to patch."""
    from patcher.cache.layout import cache_dir
    from patcher.repair import commands as patching

    cache = cache_dir(ctx.obj["cache_dir"])
    rows = []
    code = EXIT_OK
    for r in _roots(root):
        detection, state, why, recovered = patching.status(r, cache)
        rows.append((detection, state, why, recovered))
        if state == "drifted" or detection.verdict.status == UNKNOWN:
            code = EXIT_REFUSED
        elif state == "pristine" and code == EXIT_OK:
            code = EXIT_CHECK_FAILED
    if as_json:
        payload = {
            "schema": "openclaw-patcher/status/1",
            "installs": [
                {
                    "root": str(d.install.root),
                    "version": d.install.version,
                    "status": d.verdict.status,
                    "patch": state,
                    "message": why,
                    "recovered": recovered,
                }
                for d, state, why, recovered in rows
            ],
        }
        click.echo(json.dumps(payload, indent=2))
        return code
    for d, state, why, recovered in rows:
        if recovered:
            click.echo(recovered)
        click.echo(f"{d.install.root} ({d.install.version}, {d.verdict.status}): {state}: {why}")
    return code


@main.command()
@ROOT_OPTION
@JSON_OPTION
@click.pass_context
@_guarded
def rollback(ctx, root, as_json) -> int:
    """Restore every patched file byte-identical to the release."""
    from patcher.cache.layout import cache_dir
    from patcher.repair import commands as patching

    cache = cache_dir(ctx.obj["cache_dir"])
    outcomes = [patching.rollback(r, cache) for r in _roots(root)]
    if as_json:
        payload = {
            "schema": "openclaw-patcher/rollback/1",
            "installs": [o.to_json() for o in outcomes],
        }
        click.echo(json.dumps(payload, indent=2))
        return EXIT_OK
    for o in outcomes:
        if o.details.get("recovered"):
            click.echo(o.details["recovered"])
        click.echo(f"{o.root} ({o.version}): {o.message}")
        if o.details.get("gateway"):
            click.echo(f"  {o.details['gateway']}")
    return EXIT_OK


@main.command()
@click.argument("version")
@click.pass_context
@_guarded
def fetch(ctx: click.Context, version: str) -> int:
    """Fetch a release with the npm CLI into the cache and print its package root."""
    from patcher.cache.layout import cache_dir
    from patcher.cache.releases import fetch_release

    notes: list[str] = []
    root = fetch_release(version, cache_dir(ctx.obj["cache_dir"]), notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(str(root))
    return EXIT_OK


@main.command()
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
@click.pass_context
@_guarded
def matrix(ctx, spec, betas, jobs, fmt, output, list_json, max_cache, merge, expect) -> int:
    """Verify every selected release (pristine, patched, rollback) and report a table."""
    from patcher.cache import content as cachestore
    from patcher.cache.layout import cache_dir
    from patcher.cache.releases import list_versions
    from patcher.matrix import run as m

    cache = cache_dir(ctx.obj["cache_dir"])
    destination = Path(output) if output else None
    if destination is not None:  # before minutes of work, not after
        check_destination(destination)
    if expect and not merge:
        raise UsageError("--expect goes with --merge: pass both, or neither.")
    if merge:
        rows = m.merge(Path(merge), m.parse_expected(expect) if expect else ())
        if not rows:
            raise UsageError(f"{merge} holds no `matrix --format json` report: nothing to merge.")
        _write_report(m.RENDERERS[fmt](rows), destination)
        with contextlib.suppress(PatcherError):  # a finished run: `new` starts after it
            m.record_run(cache, list_versions())
        return m.exit_code(rows)
    listed = list_versions()
    versions = m.select(spec, listed, betas=betas, seen=m.last_seen(cache))
    if not versions and spec != "new":
        hint = "" if betas else " (betas are left out; add --betas to include them)"
        raise UsageError(
            f"no published release matches --versions {spec!r}{hint}: nothing was verified."
        )
    if list_json:
        click.echo(json.dumps(versions))
        return EXIT_OK
    if not versions:
        click.echo("no release was published since the last run: nothing to verify", err=True)
        return EXIT_OK
    cap = cachestore.parse_size(max_cache) if max_cache else None
    done: set[str] = set()
    measured = time.time()
    with m.progress(len(versions), sys.stderr.isatty()) as show:

        def on_row(row) -> None:
            nonlocal measured
            show(row)
            done.add(row.version)
            # Measuring the cache walks all of it (seconds): only when something was added.
            # The releases still to come or running are kept.
            if cap is not None and cachestore.grown_since(cache, measured):
                measured = time.time()
                cachestore.evict(cache, cap, keep=set(versions) - done)

        rows = m.run_matrix(versions, cache, jobs or m.default_jobs(), on_row)
    if cap is not None:
        cachestore.evict(cache, cap, grace_s=0)
    _write_report(m.RENDERERS[fmt](rows), destination)
    m.record_run(cache, listed)  # what `--versions new` compares with next time
    return m.exit_code(rows)


def _write_report(report: str, output: Path | None) -> None:
    if output is None:
        click.echo(report, nl=False)
        return
    try:
        write_text_atomic(output, report)
    except OSError as exc:
        raise UsageError(
            f"the report could not be written to {output} ({exc.strerror}): "
            "free space or choose another --output; nothing was written there."
        ) from exc


if __name__ == "__main__":  # pragma: no cover
    main()
