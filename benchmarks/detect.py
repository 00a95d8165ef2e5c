"""Time `detect --root` against `grep -rlF markCronJobActive dist` on the same release.

    python benchmarks/detect.py [--version 2026.4.14] [--runs 15] [--cache-dir DIR]

Both commands run as subprocesses on the same extracted release, with a warm page cache
(one untimed run of each first), interleaved so that load on the machine hits both alike.
Prints each median and the ratio detect / grep. Goal (issue 2): at most 1.5.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from patcher.cache.layout import cache_dir
from patcher.cache.releases import fetch_release
from patcher.system.selfexec import own_command


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2026.4.14")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cache-dir")
    args = parser.parse_args()

    root = fetch_release(args.version, cache_dir(args.cache_dir))
    exe = shutil.which("openclaw-patcher") or ""
    detect = [exe] if exe else own_command()
    detect += ["detect", "--root", str(root), "--json"]
    grep = ["grep", "-rlF", "markCronJobActive", "dist"]
    size = sum(f.stat().st_size for f in (root / "dist").rglob("*") if f.is_file())
    files = sum(1 for f in (root / "dist").rglob("*") if f.is_file())

    timed(detect, root), timed(grep, root)  # warm the page cache and Python's bytecode
    d_times, g_times = [], []
    for _ in range(args.runs):
        d_times.append(timed(detect, root))
        g_times.append(timed(grep, root))
    d, g = statistics.median(d_times), statistics.median(g_times)
    print(f"release      openclaw@{args.version}: dist {size / 1e6:.0f} MB in {files} files")
    cores, py = os.cpu_count(), platform.python_version()
    print(f"machine      {platform.machine()}, {cores} cores, Python {py}")
    print(f"runs         {args.runs} each, interleaved, warm cache")
    print(f"detect       median {d:.3f} s (min {min(d_times):.3f}, max {max(d_times):.3f})")
    print(f"grep -rlF    median {g:.3f} s (min {min(g_times):.3f}, max {max(g_times):.3f})")
    print(f"ratio        {d / g:.2f} (goal: at most 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
