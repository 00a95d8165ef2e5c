"""Run `verify --release` over a range of stable releases and write the table to docs/.

    python scripts/verify_releases.py [--versions ">=2026.4.5,<2026.8.1"] [--betas]
        [--results DIR] [--output docs/verify-releases.md] [--render-only]
        [--from-matrix REPORT]

Each release's `verify --json` is kept in the results folder (default: the cache's
`verify-results/`), so a long run can be resumed and the table re-rendered. Exits 1 when
any release is not as required by patcher/verification/verdict.py (the rule verify and
matrix use), or could not be verified; an empty selection renders nothing and exits 1.
`--from-matrix` takes the rows of a `matrix --format json` report instead of running verify
(its rows carry the same fields).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

from packaging.specifiers import SpecifierSet

from patcher.cache.layout import cache_dir
from patcher.cache.releases import list_versions, stable_versions
from patcher.system.selfexec import own_command
from patcher.verification.verdict import judge
from patcher.versions import parse_version

REPO = Path(__file__).resolve().parent.parent


def run(version: str, results: Path) -> dict:
    out = results / f"{version}.json"
    if not out.is_file():
        done = subprocess.run(
            own_command("verify", "--release", version, "--json"),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode not in (0, 1):
            return {"version": version, "error": done.stderr.strip()}
        out.write_text(done.stdout)
    return json.loads(out.read_text())


def _substitutions(report: dict) -> str:
    subs = [f"{n} {w}→{u}" for n, (w, u) in sorted((report.get("substituted") or {}).items())]
    subs += [f"{n} {w}→stub" for n, w in sorted((report.get("stubs") or {}).items())]
    return ", ".join(subs) or "—"


def row(report: dict) -> tuple[str, bool]:
    version = report["version"]
    if report.get("error"):
        error = report["error"].replace("|", "\\|")
        return f"| {version} | — | — | — | — | NOT VERIFIED: {error} | — |", False
    pristine, patched = report.get("pristine") or {}, report.get("patched")
    bug = pristine.get("bug_reproduced")
    ok = patched["ok"] if patched else None
    failed = [n for n, s in (pristine.get("scenarios") or {}).items() if not s["passed"]]
    rolled = report.get("rollback_identical")
    good = judge(report).ok  # the rule verify and matrix judge by
    cells = (
        version,
        report.get("family") or report.get("status") or "—",
        "yes" if bug else "no",
        "—" if ok is None else ("ok" if ok else "FAILED"),
        "—" if rolled is None else ("identical" if rolled else "DIFFERS"),
        ", ".join(failed) or "—",
        _substitutions(report),
    )
    return "| " + " | ".join(cells) + " |", good


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default=">=2026.4.5,<2026.8.1")
    parser.add_argument("--betas", action="store_true", help="include pre-releases")
    parser.add_argument("--results", default=str(cache_dir() / "verify-results"))
    parser.add_argument("--output", default=str(REPO / "docs" / "verify-releases.md"))
    parser.add_argument("--render-only", action="store_true", help="use saved results only")
    parser.add_argument("--from-matrix", help="a `matrix --format json` report to render")
    args = parser.parse_args()
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    spec = SpecifierSet(args.versions)
    if args.from_matrix:  # the report's rows, in the order matrix wrote them (by version)
        rows_json = json.loads(Path(args.from_matrix).read_text())["releases"]
        reports = [r for r in rows_json if spec.contains(parse_version(r["version"]), True)]
    elif args.render_only:
        versions = sorted((p.stem for p in results.glob("*.json")), key=parse_version)
        versions = [v for v in versions if spec.contains(parse_version(v), prereleases=True)]
        reports = [run(v, results) for v in versions]
    else:
        listed = list_versions() if args.betas else stable_versions(list_versions())
        versions = sorted(
            (v for v in listed if (p := parse_version(v)) and spec.contains(p, prereleases=True)),
            key=parse_version,
        )
        reports = (run(v, results) for v in versions)  # one at a time, printed as they come
    rows, bad, counts = [], 0, {"affected": 0, "substituted": 0, "pre": 0}
    failing = []
    for report in reports:
        line, good = row(report)
        bad += not good
        rows.append(line)
        if not good:
            failing.append(f"{report['version']} ({report.get('summary') or report.get('error')})")
        counts["affected"] += good and report.get("status") == "affected"
        counts["substituted"] += good and _substitutions(report) != "—"
        parsed = parse_version(report["version"])
        counts["pre"] += bool(parsed and parsed.is_prerelease)
        print(line)
    betas = " --betas" if args.betas or counts["pre"] else ""
    lines = [
        "# `verify --release` over the affected releases",
        "",
        (
            f"Rows of `openclaw-patcher matrix --versions '{args.versions}'{betas} --format "
            "json`, written by `scripts/verify_releases.py --from-matrix`."
            if args.from_matrix
            else f"Written by `scripts/verify_releases.py --versions '{args.versions}'{betas}`."
        )
        + f" Generated {datetime.date.today().isoformat()}."
        + " Pristine: does the restart simulation show #79196 on the release's own code; "
        "patched: does a scratch copy repaired by `apply` hold every scenario of the restart "
        "contract; rollback: does `rollback` give that copy back byte-identical, every file. "
        "Substituted: packages the build pins at a version the registry npm used does not "
        'publish, and what stood in for them in the harness (see docs/verify.md, "Builds whose '
        'pins are not published").',
        f"Result: {len(rows) - bad} of {len(rows)} builds as required ({counts['pre']} "
        f"pre-releases); {counts['affected']} affected builds repaired and proven; "
        f"{counts['substituted']} builds verified with substitutions. "
        + (f"Not as required: {'; '.join(failing)}. " if failing else "")
        + "From 2026.5.12 "
        "manual runs mark their job active upstream, so `long_live_runs` passes pristine "
        "there; from 2026.4.25 only the gateway reconciles cron records, so "
        "`sweep_from_another_process` (a CLI's `tasks maintenance --apply` beside the "
        "gateway) passes pristine there. Specs, chosen by code: `cron-active-jobs-json` for "
        "the JSON stores (affected-json*), with `cron-gateway-sweeps-only` where the sweeper "
        "has no runtime-authoritative gate (affected-json); `cron-active-jobs-sqlite` for "
        "the SQLite store (affected-sqlite); `cron-recovery-lookup` for the builds whose own "
        "startup repair looks the record up by the wrong time (affected-recovery-key).",
        "",
        "| version | family | bug reproduced (pristine) | patched | rollback "
        "| pristine scenarios failed | substituted |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    Path(args.output).write_text("\n".join(lines) + "\n")
    return 1 if bad or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
