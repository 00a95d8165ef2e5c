"""The matrix's reports: a text table, JSON rows, a Markdown table, JUnit XML, and the
progress shown while it runs (a bar on a terminal, plain lines otherwise)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from xml.etree import ElementTree

import click

from patcher.matrix.run import Row


def _cell(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "—" if value is None else (yes if value else no)


COLUMNS = ("version", "status", "bug reproduced (pristine)", "patched", "rollback", "ok", "time")
GATEWAY_COLUMN = "real gateway"


def _columns(rows: list[Row]) -> tuple[str, ...]:
    """The table's columns; `real gateway` only where `matrix --gateway` checked it."""
    if any(r.gateway_ok is not None for r in rows):
        return (*COLUMNS[:5], GATEWAY_COLUMN, *COLUMNS[5:])
    return COLUMNS


def _cells(row: Row, columns: tuple[str, ...] = COLUMNS) -> tuple[str, ...]:
    cells = [
        row.version,
        row.status,
        _cell(row.bug_reproduced),
        _cell(row.patched_ok, "ok", "FAILED"),
        _cell(row.rollback_identical, "identical", "DIFFERS"),
        _outcome(row),
        f"{row.seconds.get('total', 0):.0f} s",
    ]
    if GATEWAY_COLUMN in columns:
        cells.insert(5, _cell(row.gateway_ok, "as required", "NOT as required"))
    return tuple(cells)


def _outcome(row: Row) -> str:
    if row.ok:
        subs = row.substitutions
        return f"ok, with substitutions ({', '.join(subs)})" if subs else "ok"
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


def render_markdown(rows: list[Row]) -> str:
    columns = _columns(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in _cells(row, columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_text(rows: list[Row]) -> str:
    columns = _columns(rows)
    table = [columns, *(_cells(r, columns) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.append(summary_line(rows))
    return "\n".join(lines) + "\n"


def render_json(rows: list[Row]) -> str:
    return json.dumps(
        {"schema": "openclaw-patcher/matrix/1", "releases": [r.to_json() for r in rows]}, indent=2
    )


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
        problem = row.verdict.reason
        if problem is not None:
            kind = "failure" if row.verified else "error"
            element = ElementTree.SubElement(case, kind, message=problem, type=kind)
            element.text = json.dumps(row.to_json(), indent=1)[:20_000]
        out = ElementTree.SubElement(case, "system-out")
        out.text = (row.report or {}).get("summary") or ""
        if row.substitutions:
            out.text += f"\nverified with substitutions: {', '.join(row.substitutions)}"
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
def progress(total: int, *, on_terminal: bool) -> Iterator[Callable[[Row], None]]:
    """A progress bar on a terminal, plain lines otherwise; yields the per-row callback."""

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
        why = f": {row.verdict.reason}" if not row.ok else ""
        click.echo(f"{where} {verdict} ({took:.0f} s){why}", err=True)

    yield line
