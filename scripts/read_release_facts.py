"""Read the per-release facts (tests/data/releases.json) off the published releases.

    python scripts/read_release_facts.py [--from 2026.3.1] [--to 2026.9.6] [--jobs 4]
        [--cache-dir DIR] [--write] [--prune]

Each stable release in the range is fetched with the npm CLI into the cache (see
docs/release-cache.md) and read by plain byte search (`read_facts` in tests/release_facts.py),
without `detect`: detect is what the facts check, so they must not come from it. Per release:

- `engines_node`: `engines.node` of its package.json;
- `files`: the `.js` / `.mjs` files under `dist/` (module chunks and bundled copies alike)
  that hold, as code (not in a string or a line comment), each role's literal:
  `function markCronJobActive(` (active-jobs), a call `markCronJobActive(` that is not
  that definition (cron-service), `function hasBackingSession(` (sweeper),
  `function loadCronStore(` (cron-store);
- `store`: `sqlite` where a cron-store file defines `loadCronJobsStore` or names the
  `cron_jobs` table, `json-split` where it names a `*-state.json` file, else `json`;
- `family`: no active-jobs code is `not-affected`; a cron service with the startup run
  repair (code naming its module, `startup-run-repair`) is `fixed-upstream`, or
  `affected-recovery-key` where that repair keys the run by its reservation
  (`runIdStartedAt: ….reservedAtMs`); otherwise the sweeper's durable recovery
  (`function resolveDurableCronTaskRecovery(`) and the store decide: none and JSON is
  `affected-json`, with it and split JSON `affected-json-recovery`, with it and SQLite
  `affected-sqlite`.

Without `--write` the facts read are compared with the file, one line per release, and the
script exits 1 when any differs (an entry marked `cron_store_list_truncated` lists only some
of its cron-store files: those must be among the files read). `--write` puts the facts read
into the file instead, entries outside the range kept. `--prune` removes each extracted
release once read (the tarballs stay cached).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import release_facts  # noqa: E402

from patcher.cache.layout import cache_dir  # noqa: E402
from patcher.cache.releases import fetch_release  # noqa: E402
from patcher.versions import parse_version  # noqa: E402

FACTS = release_facts.FACTS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    release_facts.add_range_arguments(parser)
    parser.add_argument("--write", action="store_true", help="write the facts read to the file")
    parser.add_argument("--prune", action="store_true")
    args = parser.parse_args()

    versions = release_facts.stable_in_range(args)
    document = json.loads(FACTS.read_text())
    recorded = document["releases"]
    cache = cache_dir(args.cache_dir)
    read: dict[str, dict[str, Any]] = {}
    failures = 0

    def fetch_and_read(version: str) -> dict[str, Any]:
        root = fetch_release(version, cache)
        facts = release_facts.read_facts(root)
        if args.prune:
            shutil.rmtree(root.parent, ignore_errors=True)
        return facts

    with ThreadPoolExecutor(args.jobs) as pool:
        for version, facts in zip(versions, pool.map(fetch_and_read, versions), strict=True):
            read[version] = facts
            if args.write:
                print(f"{version:<12} {facts['family']}")
                continue
            if version in recorded:
                problems = release_facts.differences(facts, recorded[version])
            else:
                problems = ["not in the recorded facts"]
            failures += bool(problems)
            print(f"{version:<12} {facts['family']:<23} " + ("; ".join(problems) or "as recorded"))

    if args.write:
        merged = {**recorded, **read}
        order = sorted(merged, key=parse_version)
        document["releases"] = {v: merged[v] for v in order}
        FACTS.write_text(json.dumps(document, indent=1) + "\n")
        print(f"wrote {len(read)} releases to {FACTS.relative_to(REPO)}")
        return 0
    print(f"{len(read) - failures} of {len(read)} releases as recorded")
    return 1 if failures or not read else 0


if __name__ == "__main__":
    sys.exit(main())
