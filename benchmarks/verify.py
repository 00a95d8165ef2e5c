"""Time `verify --release` on one release: warm (everything cached) and cold (empty cache).

    python benchmarks/verify.py [--version 2026.4.14] [--runs 3] [--skip-cold]

Warm: the release, its Node and its dependencies are in the cache; the time is all of
verify: detection, the pristine side's scenarios, the scratch copy repaired by `apply`, the
patched side's scenarios (with the store check) and the rollback identity. Cold: a fresh
cache directory, so the run also fetches the tarball, a Node if the machine's does not
fit, and the dependencies (npm's own cache, ~/.npm, is left as it is). Goal (issue 4): at
most 30 s warm.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from patcher.cache.layout import cache_dir
from patcher.system.selfexec import own_command


def run_verify(version: str, cache: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        own_command("--cache-dir", cache, "verify", "--release", version, "--json"),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"verify failed: {done.stderr.strip()}")
    return elapsed, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2026.4.14")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    print(
        f"machine  {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    cache = str(cache_dir())
    run_verify(args.version, cache)  # make sure everything is cached
    warm = []
    for _ in range(args.runs):
        elapsed, report = run_verify(args.version, cache)
        patched = (report.get("patched") or {}).get("seconds", 0.0)
        warm.append((elapsed, report["pristine"]["seconds"], patched))
    total, pristine, patched = (statistics.median(w[i] for w in warm) for i in range(3))
    print(
        f"warm     openclaw@{args.version}: median {total:.1f} s for verify (scenarios: "
        f"{pristine:.1f} s pristine, {patched:.1f} s patched), {args.runs} runs"
    )
    if not args.skip_cold:
        fresh = tempfile.mkdtemp(prefix="openclaw-patcher-cold-")
        try:
            elapsed, _ = run_verify(args.version, fresh)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        what = "fetch, Node, dependencies, scenarios"
        print(f"cold     openclaw@{args.version}: {elapsed:.1f} s ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
