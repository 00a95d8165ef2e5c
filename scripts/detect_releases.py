"""Run `detect` over every stable OpenClaw release; check it against tests/data/releases.json.

    python scripts/detect_releases.py [--from 2026.3.1] [--to 2026.9.6] [--jobs 4]
        [--output docs/detect-releases.md] [--prune]

Releases are fetched with the npm CLI into the cache (see docs/release-cache.md). Prints one
line per release, writes a Markdown table, and exits 1 when any release differs from the
facts.
`--prune` removes each extracted release after it is judged (the tarballs stay cached).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import release_facts  # noqa: E402

from patcher.cache.layout import cache_dir  # noqa: E402
from patcher.cache.releases import fetch_release  # noqa: E402
from patcher.detection.detect import detect_install  # noqa: E402
from patcher.detection.install import open_install  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    release_facts.add_range_arguments(parser)
    parser.add_argument("--output", default=str(REPO / "docs" / "detect-releases.md"))
    parser.add_argument("--prune", action="store_true")
    args = parser.parse_args()

    versions = release_facts.stable_in_range(args)
    facts = release_facts.load()
    cache = cache_dir(args.cache_dir)
    rows, failures = [], 0
    with ThreadPoolExecutor(args.jobs) as pool:
        roots = pool.map(lambda v: (v, fetch_release(v, cache)), versions)
        for version, root in roots:
            started = time.perf_counter()
            found = detect_install(open_install(root)).to_json()
            seconds = time.perf_counter() - started
            expected = facts.get(version)
            problems = (
                release_facts.compare(found, expected) if expected else ["not in the release facts"]
            )
            failures += bool(problems)
            verdict = "ok" if not problems else "MISMATCH: " + "; ".join(problems)
            print(f"{version:<12} {found['status']:<15} {found['family'] or '-':<23} {verdict}")
            rows.append((version, found, seconds, verdict))
            if args.prune:
                shutil.rmtree(root.parent, ignore_errors=True)

    lines = [
        "# `detect` on every stable release",
        "",
        f"Written by `scripts/detect_releases.py` for {len(rows)} releases "
        f"{args.first} – {args.last}; each row is compared with the release facts "
        "(tests/data/releases.json) "
        "(family, store, engines.node, and the file of each role). "
        f"Result: {len(rows) - failures} agree, {failures} differ.",
        "",
        "| version | status | family | store | active-jobs | cron-service | sweeper "
        "| cron-store | detect s | vs release facts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for version, found, seconds, verdict in rows:

        def cell(role: str, found=found) -> str:
            names = [p.removeprefix("dist/") for p in found["files"][role]]
            names += [p.removeprefix("dist/") + " (copy)" for p in found["copies"][role]]
            return ", ".join(names) or "—"

        lines.append(
            f"| {version} | {found['status']} | {found['family'] or '—'} | {found['store']} | "
            f"{cell('active-jobs')} | {cell('cron-service')} | {cell('sweeper')} | "
            f"{cell('cron-store')} | {seconds:.2f} | {verdict} |"
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n")
    agree = len(rows) - failures
    print(f"{agree}/{len(rows)} agree with the release facts; table in {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
