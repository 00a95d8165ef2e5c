"""Time `detect --root` against `grep -rlF markCronJobActive dist` on the same release.

    python benchmarks/detect.py [--version 2026.4.14] [--runs 15] [--pin CORE] [--cache-dir DIR]

All three commands run as subprocesses on the same extracted release, with a warm page
cache (one untimed run of each first), interleaved so that load on the machine hits them
alike: detect; grep; and the floor of a prefilter in Python (benchmarks/scan_floor.py:
read the same .js/.mjs files and look for detect's needles, nothing else). `--pin CORE`
runs each on that one core (`taskset`). Prints each median and the ratios to grep.
Goals: at most 1.3 pinned, 1.5 unpinned.
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

FLOOR = Path(__file__).with_name("scan_floor.py")


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def measure(version: str, runs: int, cache: str | None = None, pin: int | None = None) -> dict:
    """Medians of detect, grep and the Python floor (seconds), and the release's size."""
    root = fetch_release(version, cache_dir(cache))
    exe = shutil.which("openclaw-patcher") or ""
    prefix = ["taskset", "-c", str(pin)] if pin is not None else []
    commands = {
        "detect": [*prefix, *([exe] if exe else own_command()), "detect", "--root", str(root)],
        "grep": [*prefix, "grep", "-rlF", "markCronJobActive", "dist"],
        "floor": [*prefix, sys.executable, str(FLOOR), "dist"],
    }
    commands["detect"].append("--json")
    for command in commands.values():
        timed(command, root)  # warm the page cache and Python's bytecode
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(timed(command, root))
    files = [f for f in (root / "dist").rglob("*") if f.is_file()]
    return {
        "version": version,
        "pin": pin,
        "runs": runs,
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        **{name: statistics.median(values) for name, values in times.items()},
        "spread": {name: [min(v), max(v)] for name, v in times.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2026.4.14")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pin", type=int, default=None, help="run everything on this core")
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    m = measure(args.version, args.runs, args.cache_dir, args.pin)
    cores, py = os.cpu_count(), platform.python_version()
    print(
        f"release      openclaw@{args.version}: "
        f"dist {m['bytes'] / 1e6:.0f} MB in {m['files']} files"
    )
    print(f"machine      {platform.machine()}, {cores} cores, Python {py}")
    where = f"pinned to core {args.pin}" if args.pin is not None else "unpinned"
    print(f"runs         {args.runs} each, interleaved, warm cache, {where}")
    for name in ("detect", "grep", "floor"):
        low, high = m["spread"][name]
        print(f"{name:<12} median {m[name]:.3f} s (min {low:.3f}, max {high:.3f})")
    goal = 1.3 if args.pin is not None else 1.5
    print(f"ratio        {m['detect'] / m['grep']:.2f} (goal: at most {goal})")
    print(f"floor ratio  {m['floor'] / m['grep']:.2f} (Python reading the same files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
