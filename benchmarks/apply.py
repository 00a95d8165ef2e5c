"""Time `apply --dry-run` and `apply --skip-simulation` (then rollback) on one release.

    python benchmarks/apply.py [--version 2026.4.14] [--runs 5]

Works on a scratch copy of the cached release (so the cache stays pristine); each run is
rolled back before the next. Prints the median of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patcher.cache.layout import cache_dir
from patcher.cache.releases import fetch_release
from patcher.system.selfexec import own_command


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(own_command(*args), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2026.4.14")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    release = fetch_release(args.version, cache_dir())
    print(
        f"machine  {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "package"
        shutil.copytree(release, root, symlinks=True)
        dry, real = [], []
        for _ in range(args.runs):
            dry.append(timed(["apply", "--root", str(root), "--dry-run"]))
            real.append(timed(["apply", "--root", str(root), "--skip-simulation"]))
            timed(["rollback", "--root", str(root)])
    print(
        f"apply --dry-run          openclaw@{args.version}: median {statistics.median(dry):.2f} s"
    )
    print(
        f"apply --skip-simulation  openclaw@{args.version}: median {statistics.median(real):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
