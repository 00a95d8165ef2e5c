"""Time `matrix` over a version range, warm (the cache as it is) or cold (a fresh cache).

    python benchmarks/matrix.py [--versions ">=2026.4.5,<2026.8"] [--jobs N] [--cold]
        [--cache-dir DIR] [--max-cache SIZE]

Cold runs in a fresh cache (DIR when given: it must be empty or absent, so the warm run
after it can reuse it); warm runs in DIR or the usual cache as it is. npm's own cache goes
in `<cache>/npm` (NPM_CONFIG_CACHE), so cold is cold for npm too and the disk figure counts it.

Prints the wall time beside its floor (warm: for each release, the seven Node processes
verify needs, each loading that release's cron code, timed on its own after the run, over
the machine's cores: benchmarks/verify.py), the releases per minute, the slowest
releases, whether every release came out as required, and the cache's disk use before
and after (each inode counted once: identical files are stored once,
patcher/cache/content.py). Goals on a 2-core machine, for
>=2026.4.5,<2026.8 (49 releases): warm at most 4 minutes, cold at most 12, cache at most
6 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from verify import PROCESSES, one_load  # benchmarks/verify.py

from patcher.cache.content import disk_usage
from patcher.cache.layout import RELEASES, cache_dir
from patcher.simulation.harness import dependencies_linked
from patcher.system.cores import usable_cores
from patcher.system.selfexec import own_command


def cached_releases(cache: Path) -> set[str]:
    """The releases `cache` holds whole: extracted, with their dependencies installed. A
    warm run of any other has to fetch it, and is not warm."""
    folder = cache / RELEASES
    found = folder.iterdir() if folder.is_dir() else ()
    return {
        v.name
        for v in found
        if (v / "package" / "package.json").is_file()
        and dependencies_linked(v / "package", cache, v.name)
    }


def measure(
    versions: str, cold: bool, cache: Path, max_cache: str | None, jobs: int | None = None
) -> dict:
    """One `matrix` run over `versions` in `cache` (which `cold` wants empty or absent): its
    wall time, rows, exit code, the cache's disk use before and after, the releases it had
    to fetch (a "warm" run that fetched any was not warm), and warm, the floor (each
    release's seven Node loads over the cores)."""
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["NPM_CONFIG_CACHE"] = str(cache / "npm")
    before, held = disk_usage(cache), cached_releases(cache)
    out = Path(tempfile.mkdtemp()) / "matrix.json"
    command = own_command("--cache-dir", str(cache), "matrix")
    command += ["--versions", versions, "--format", "json", "--output", str(out)]
    if max_cache:  # a budget evicts releases: a warm run on the usual cache goes without
        command += ["--max-cache", max_cache]
    if jobs:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    done = subprocess.run(command, check=False)
    wall = time.perf_counter() - started
    rows = json.loads(out.read_text())["releases"] if out.is_file() else []
    after = disk_usage(cache)
    floor = None
    if not cold and rows:
        floor = sum(PROCESSES * one_load(r["version"], cache) for r in rows) / usable_cores()
    return {
        "versions": versions,
        "cold": cold,
        "wall": wall,
        "floor": floor,
        "rows": rows,
        "exit": done.returncode,
        "ok": bool(rows) and all(r["ok"] for r in rows),
        "fetched": [r["version"] for r in rows if r["version"] not in held],
        "disk_before": before,
        "disk_after": after,
        "report": str(out),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default=">=2026.4.5,<2026.8")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--cold", action="store_true", help="use a fresh cache directory")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--max-cache", default=None, help="cold: 6G unless given")
    args = parser.parse_args()
    cache = cache_dir(args.cache_dir)
    if args.cold and args.cache_dir is None:
        cache = Path(tempfile.mkdtemp(prefix="openclaw-patcher-bench-"))
    elif args.cold and cache.exists() and any(cache.iterdir()):
        parser.error(f"--cold: {cache} is not empty; give an empty or new --cache-dir.")
    budget = args.max_cache or ("6G" if args.cold else None)
    m = measure(args.versions, args.cold, cache, budget, args.jobs)
    rows, wall = m["rows"], m["wall"]
    cores, python = usable_cores(), platform.python_version()
    print(f"machine: {platform.machine()}, {cores} cores, Python {python}")
    print(f"versions {args.versions!r}: {len(rows)} releases, jobs {args.jobs or 'default'}")
    rate = len(rows) / (wall / 60)
    print(f"{'cold' if args.cold else 'warm'}: {wall / 60:.1f} min ({rate:.1f} releases/min)")
    if m["fetched"] and not args.cold:
        print(f"not warm: {len(m['fetched'])} releases were fetched ({', '.join(m['fetched'])})")
    elif m["floor"]:
        print(
            f"floor: {m['floor'] / 60:.1f} min of Node loads over {cores} cores; "
            f"ratio {wall / m['floor']:.2f}"
        )
    print(f"every release as required: {m['ok']} (exit {m['exit']})")
    for row in sorted(rows, key=lambda r: -r["seconds"].get("total", 0))[:3]:
        print(f"  slowest: {row['version']} {row['seconds']}")
    before, after = m["disk_before"] / 2**30, m["disk_after"] / 2**30
    print(f"cache {cache}: {before:.2f} GiB before, {after:.2f} GiB after")
    print(f"report: {m['report']}")
    return m["exit"]


if __name__ == "__main__":
    sys.exit(main())
