"""`matrix`: `verify --release` over many releases, in parallel, in one report.

Each release runs in a process of its own (`verify --release V --json`, started with this
Python and this package's code, patcher/system/selfexec.py): the pristine release, a scratch copy
repaired by `apply`, and that copy's rollback compared file by file. So releases never
share a scratch dir, a state dir or a Node process. What
they share is the cache (releases, Node builds, dependency installs, npm's cache), each
entry written under its own file lock (patcher/files/locks.py `waiting`).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from patcher.cache.content import UsageMeter, evict, grown_since
from patcher.cache.layout import MATRIX
from patcher.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError
from patcher.files.atomic import write_text_atomic
from patcher.matrix.prefetch import Prefetcher
from patcher.system.cores import usable_cores
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
    # `verify --gateway --json` with `matrix --gateway` (None: not asked for); its own error.
    gateway: dict[str, Any] | None = None
    gateway_error: str | None = None

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
    def substitutions(self) -> list[str]:
        """`name wanted→used` (or `name wanted→stub`) per package that stood in for one the
        registry does not publish: the row was verified with substitutions."""
        report = self.report or {}
        out = [f"{n} {w}→{u}" for n, (w, u) in sorted((report.get("substituted") or {}).items())]
        out += [f"{n} {w}→stub" for n, w in sorted((report.get("stubs") or {}).items())]
        return out

    @property
    def gateway_ok(self) -> bool | None:
        """The real gateway's verdict (None where it was not asked for)."""
        if self.gateway is None and self.gateway_error is None:
            return None
        return self.gateway_error is None and judge(self.gateway).ok

    @property
    def verdict(self) -> Verdict:
        """patcher.verification.verdict's rule; a row whose release could not be verified fails,
        and with `--gateway` so does one whose real gateway is not as required."""
        if self.error is not None:
            return Verdict(False, self.error)
        found = judge(self.report)
        if found.ok and self.gateway_error is not None:
            return Verdict(False, f"the real gateway could not be checked: {self.gateway_error}")
        if found.ok and self.gateway is not None and not judge(self.gateway).ok:
            return Verdict(False, f"on the real gateway: {judge(self.gateway).reason}")
        return found

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
            **(
                {"gateway": self.gateway, "gateway_error": self.gateway_error}
                if self.gateway_ok is not None
                else {}
            ),
            "ok": self.ok,
        }


ROW_EXTRAS = ("seconds", "error", "ok", "gateway", "gateway_error")


def row_from_json(data: dict[str, Any]) -> Row:
    """A row as `render_json` wrote it (for `matrix --merge`)."""
    report = {k: v for k, v in data.items() if k not in ROW_EXTRAS}
    return Row(
        str(data["version"]),
        report if report.get("schema") else None,
        {k: float(v) for k, v in (data.get("seconds") or {}).items()},
        data.get("error"),
        data.get("gateway"),
        data.get("gateway_error"),
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
    spec: str, versions: Iterable[str], *, betas: bool = False, seen: Iterable[str] = ()
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


def _verify(cache: Path, args: list[str], timeout: float) -> tuple[dict | None, str | None]:
    """(report, None) or (None, why) for one `verify ... --json` in a process of its own."""
    try:
        done = _patcher(cache, "verify", *args, "--json", timeout=timeout)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return None, str(exc)
    # The last "error: " line says why (--gateway prints progress lines before it).
    lines = done.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("error: ")] or lines[-1:]
    reason = (errors[-1] if errors else "").removeprefix("error: ") or f"exit {done.returncode}"
    if done.returncode not in (0, 1):
        return None, reason
    try:
        return json.loads(done.stdout), None
    except ValueError:  # exit 1 without a report: a failure that said why on stderr
        return None, reason


def run_release(version: str, cache: Path, gateway: bool = False) -> Row:
    """verify --release in a process of its own (pristine, patched copy, rollback identity);
    with `gateway`, then verify --gateway --release (the real gateway, minutes)."""
    row = Row(version)
    started = time.monotonic()
    try:
        row.report, row.error = _verify(cache, ["--release", version], 1800)
        row.seconds["verify"] = time.monotonic() - started
        if gateway and row.error is None:
            row.gateway, row.gateway_error = _verify(
                cache, ["--gateway", "--release", version], 3600
            )
            row.seconds["gateway"] = time.monotonic() - started - row.seconds["verify"]
    finally:
        row.seconds["total"] = time.monotonic() - started
    return row


def default_jobs() -> int:
    """One release per core: a release's processes mostly run one at a time."""
    return usable_cores()


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


def exit_code(rows: list[Row]) -> int:
    """0 when every row is as required; 1 when any release fails its verdict or could not
    be verified (an empty report verifies nothing and is refused before it is made)."""
    return EXIT_OK if rows and all(r.ok for r in rows) else EXIT_CHECK_FAILED


def selected(spec: str, listed: list[str], *, betas: bool, cache: Path) -> list[str]:
    """The versions to verify; an explicit selection that matches nothing is refused (exit
    2), `new` with nothing new is an empty list."""
    versions = select(spec, listed, betas=betas, seen=last_seen(cache))
    if not versions and spec != "new":
        hint = "" if betas else " (betas are left out; add --betas to include them)"
        raise UsageError(
            f"no published release matches --versions {spec!r}{hint}: nothing was verified."
        )
    return versions


def merged(folder: Path, expect: str | None) -> list[Row]:
    """`--merge`: the rows of the reports in `folder` (and an error row per `--expect`ed
    version without one); a folder with no report is refused."""
    rows = merge(folder, parse_expected(expect) if expect else ())
    if not rows:
        raise UsageError(f"{folder} holds no `matrix --format json` report: nothing to merge.")
    return rows


def run_within(
    versions: list[str],
    cache: Path,
    jobs: int,
    on_row: Callable[[Row], None],
    max_bytes: int | None,
    gateway: bool = False,
) -> list[Row]:
    """run_matrix, keeping the cache within `max_bytes`: after each release that stored
    something new, least recently used releases are evicted (never one still to come or
    running), and once more at the end."""
    done: set[str] = set()
    measured = time.time()
    # Walking the cache takes seconds per 100,000 files: the meter walks it again only
    # when what the file system gained since the last walk could break the budget.
    meter = UsageMeter(cache)

    def each(row: Row) -> None:
        nonlocal measured
        on_row(row)
        done.add(row.version)
        if max_bytes is not None and grown_since(cache, measured):
            measured = time.time()
            evict(cache, max_bytes, keep=set(versions) - done, meter=meter)

    release = functools.partial(run_release, gateway=True) if gateway else run_release
    prefetcher = Prefetcher(versions, cache, jobs)

    def runner(version: str, where: Path) -> Row:
        prefetcher.started()
        return release(version, where)

    with prefetcher:
        rows = run_matrix(versions, cache, jobs, each, runner)
    if max_bytes is not None:
        evict(cache, max_bytes, grace_s=0)
    return rows


def write_report(report: str, output: Path) -> None:
    """Write a report whole or not at all (its destination was checked before the run)."""
    try:
        write_text_atomic(output, report)
    except OSError as exc:
        raise UsageError(
            f"the report could not be written to {output} ({exc.strerror}): "
            "free space or choose another --output; nothing was written there."
        ) from exc
