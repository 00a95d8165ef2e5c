"""`matrix`: `verify --release` over many releases, in parallel, in one report.

Each release runs in a process of its own (`verify --release V --json`, started with this
Python and this package's code, patcher/system/selfexec.py): the pristine release, a scratch copy
repaired by `apply`, and that copy's rollback compared file by file. So releases never
share a scratch dir, a state dir or a Node process. What
they share is the cache (releases, Node builds, dependency installs, npm's cache), each
entry written under its own file lock (patcher/files/locks.py `waiting`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from patcher.cache.layout import MATRIX
from patcher.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError
from patcher.system.selfexec import own_command
from patcher.verification.verdict import Verdict, judge
from patcher.versions import parse_version

LAST_RUN = f"{MATRIX}/last-run.json"


@dataclass
class Row:
    """One release's line of the matrix: the verify report, the rollback identity, times."""

    version: str
    report: dict[str, Any] | None = None  # `verify --json`
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def status(self) -> str:
        return (self.report or {}).get("status") or "error"

    @property
    def bug_reproduced(self) -> bool | None:
        pristine = (self.report or {}).get("pristine")
        return pristine.get("bug_reproduced") if pristine else None

    @property
    def patched_ok(self) -> bool | None:
        patched = (self.report or {}).get("patched")
        return patched.get("ok") if patched else None

    @property
    def rollback_identical(self) -> bool | None:
        """None where no patched copy was made (nothing to roll back)."""
        return (self.report or {}).get("rollback_identical")

    @property
    def verdict(self) -> Verdict:
        """patcher.verification.verdict's rule; a row whose release could not be verified fails."""
        if self.error is not None:
            return Verdict(False, self.error)
        return judge(self.report)

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def verified(self) -> bool:
        """Whether the release was verified at all (a report, no error): a row that was
        not fails the matrix as surely as one that fails its verdict."""
        return self.error is None and self.report is not None

    def to_json(self) -> dict[str, Any]:
        return {
            **(self.report or {"version": self.version, "status": self.status}),
            "version": self.version,
            "status": self.status,
            "rollback_identical": self.rollback_identical,  # also where no report was made
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "error": self.error,
            "ok": self.ok,
        }


ROW_EXTRAS = ("seconds", "error", "ok")


def row_from_json(data: dict[str, Any]) -> Row:
    """A row as `render_json` wrote it (for `matrix --merge`)."""
    report = {k: v for k, v in data.items() if k not in ROW_EXTRAS}
    return Row(
        str(data["version"]),
        report if report.get("schema") else None,
        {k: float(v) for k, v in (data.get("seconds") or {}).items()},
        data.get("error"),
    )


def merge(folder: Path, expected: Iterable[str] = ()) -> list[Row]:
    """Every row of the `matrix --format json` reports in `folder` (one per CI runner);
    an `expected` version without a row is an error row (its runner left no report)."""
    rows: dict[str, Row] = {
        v: Row(v, error="no report for this release: its runner failed before writing one")
        for v in expected
    }
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path} is not a matrix JSON report ({exc}): remove it.") from exc
        if not isinstance(data, dict) or data.get("schema") != "openclaw-patcher/matrix/1":
            raise UsageError(f"{path} is not a matrix JSON report: remove it from {folder}.")
        for entry in data["releases"]:
            rows[entry["version"]] = row_from_json(entry)
    return [rows[v] for v in sorted(rows, key=lambda v: parse_version(v) or v)]


def parse_expected(text: str) -> list[str]:
    """`--expect`: a JSON list of version strings."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(
        isinstance(v, str) and parse_version(v) is not None for v in value
    ):
        raise UsageError(
            f"--expect {text!r} is not a JSON list of versions (as --list-json prints): fix it."
        )
    return value


def parse_selection(spec: str) -> str | SpecifierSet:
    """`all`, `new`, or a PEP 440 specifier over OpenClaw's versions."""
    if spec in ("all", "new"):
        return spec
    try:
        return SpecifierSet(spec)
    except InvalidSpecifier as exc:
        raise UsageError(
            f"--versions {spec!r} is not `all`, `new` or a version specifier such as "
            "'>=2026.4.5,<2026.8': fix it and retry."
        ) from exc


def select(
    spec: str, versions: Iterable[str], betas: bool = False, seen: Iterable[str] = ()
) -> list[str]:
    """The versions `spec` picks from `versions` (what npm lists), oldest first. Betas only
    with `betas`; `new` is what was published since the run that recorded `seen`."""
    selection = parse_selection(spec)
    already = set(seen)
    picked = []
    for version in versions:
        parsed = parse_version(version)
        if parsed is None or (parsed.is_prerelease and not betas):
            continue
        if isinstance(selection, str) and selection == "new" and version in already:
            continue
        if isinstance(selection, SpecifierSet) and not selection.contains(
            parsed, prereleases=betas
        ):
            continue
        picked.append((parsed, version))
    return [v for _, v in sorted(picked)]


def last_seen(cache: Path) -> list[str]:
    """The versions npm listed when `matrix` last finished (for `--versions new`)."""
    try:
        return list(json.loads((cache / LAST_RUN).read_text())["listed"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def record_run(cache: Path, listed: list[str]) -> None:
    target = cache / LAST_RUN
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"listed": listed, "at": int(time.time())}))
    os.replace(tmp, target)


def _patcher(cache: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(
        own_command("--cache-dir", str(cache), *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_release(version: str, cache: Path) -> Row:
    """verify --release in a process of its own (pristine, patched copy, rollback identity)."""
    row = Row(version)
    started = time.monotonic()
    try:
        done = _patcher(cache, "verify", "--release", version, "--json")
        reason = done.stderr.strip().removeprefix("error: ") or f"exit {done.returncode}"
        if done.returncode not in (0, 1):
            row.error = reason
            return row
        try:
            row.report = json.loads(done.stdout)
        except ValueError:  # exit 1 without a report: a failure that said why on stderr
            row.error = reason
    except (subprocess.TimeoutExpired, OSError) as exc:
        row.error = str(exc)
    finally:
        row.seconds["total"] = time.monotonic() - started
    return row


def default_jobs() -> int:
    """One release per core: a release's processes mostly run one at a time."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def run_matrix(
    versions: list[str],
    cache: Path,
    jobs: int,
    on_row: Callable[[Row], None] = lambda row: None,
    runner: Callable[[str, Path], Row] | None = None,
) -> list[Row]:
    """Run `runner` (run_release) for every version, `jobs` at a time; rows in version order."""
    runner = runner or run_release
    rows: dict[str, Row] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(runner, v, cache): v for v in versions}
        for future in as_completed(futures):
            row = future.result()
            rows[row.version] = row
            on_row(row)
    return [rows[v] for v in versions]


def _cell(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "—" if value is None else (yes if value else no)


COLUMNS = ("version", "status", "bug reproduced (pristine)", "patched", "rollback", "ok", "time")


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.version,
        row.status,
        _cell(row.bug_reproduced),
        _cell(row.patched_ok, "ok", "FAILED"),
        _cell(row.rollback_identical, "identical", "DIFFERS"),
        _outcome(row),
        f"{row.seconds.get('total', 0):.0f} s",
    )


def _outcome(row: Row) -> str:
    if row.ok:
        return "ok"
    return "FAILED" if row.verified else f"NOT VERIFIED: {row.verdict.reason}"


def _word(row: Row) -> str:
    return "ok" if row.ok else ("FAILED" if row.verified else "NOT VERIFIED")


def summary_line(rows: list[Row]) -> str:
    """`N of M releases as required`, then which failed and which could not be verified."""
    failed = [r.version for r in rows if not r.ok and r.verified]
    unverified = [r.version for r in rows if not r.verified]
    line = f"{len(rows) - len(failed) - len(unverified)} of {len(rows)} releases as required"
    if failed:
        line += f"; failed: {', '.join(failed)}"
    if unverified:
        line += f"; not verified: {', '.join(unverified)}"
    return line


def exit_code(rows: list[Row]) -> int:
    """0 when every row is as required; 1 when any release fails its verdict or could not
    be verified (an empty report verifies nothing and is refused before it is made)."""
    return EXIT_OK if rows and all(r.ok for r in rows) else EXIT_CHECK_FAILED


def render_markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in _cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_text(rows: list[Row]) -> str:
    table = [COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.append(summary_line(rows))
    return "\n".join(lines) + "\n"


def render_json(rows: list[Row]) -> str:
    return json.dumps(
        {"schema": "openclaw-patcher/matrix/1", "releases": [r.to_json() for r in rows]}, indent=2
    )


def _failure(row: Row) -> str | None:
    return row.verdict.reason


def render_junit(rows: list[Row]) -> str:
    """JUnit XML: one test case per release, a failure (or an error) where it fails."""
    suites = ElementTree.Element("testsuites", name="openclaw-patcher matrix")
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="openclaw-releases",
        tests=str(len(rows)),
        failures=str(sum(1 for r in rows if not r.ok and r.verified)),
        errors=str(sum(1 for r in rows if not r.verified)),
        skipped="0",
        time=f"{sum(r.seconds.get('total', 0) for r in rows):.1f}",
    )
    for row in rows:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"openclaw.{row.status}",
            name=row.version,
            time=f"{row.seconds.get('total', 0):.1f}",
        )
        problem = _failure(row)
        if problem is not None:
            kind = "failure" if row.verified else "error"
            element = ElementTree.SubElement(case, kind, message=problem, type=kind)
            element.text = json.dumps(row.to_json(), indent=1)[:20_000]
        out = ElementTree.SubElement(case, "system-out")
        out.text = (row.report or {}).get("summary") or ""
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
        suites, encoding="unicode"
    )


RENDERERS = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "junit": render_junit,
}


@contextlib.contextmanager
def progress(total: int, on_terminal: bool):
    """A progress bar on a terminal, plain lines otherwise; yields the per-row callback."""
    import click

    if on_terminal:
        with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:

            def tick(row: Row) -> None:
                bar.label = f"{row.version} {_word(row)}"
                bar.update(1)

            yield tick
        return
    count = 0

    def line(row: Row) -> None:
        nonlocal count
        count += 1
        verdict = _word(row)
        took = row.seconds.get("total", 0)
        where = f"[{count}/{total}] {row.version} {row.status}"
        why = f": {_failure(row)}" if not row.ok else ""
        click.echo(f"{where} {verdict} ({took:.0f} s){why}", err=True)

    yield line
