"""Every figure of the README's speed table, in one sitting, each beside its floor.

    python benchmarks/all.py [--cold] [--versions ">=2026.4.5,<2026.8"] [--runs N]

Runs, one after the other on this machine: detect against grep, pinned to one core and
unpinned (benchmarks/detect.py); store validate of a 5,000-job store against json.load
(store.py); verify --release 2026.4.14 warm against seven Node loads of its cron code
(verify.py); the matrix over `--versions` warm against each release's loads (matrix.py);
with `--cold`, the matrix again in a fresh cache, and its disk use. Each benchmark
interleaves its command with its floor, so load on the machine hits both alike. Prints the
machine line and a Markdown table; the README's table is one such run.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

import detect
import matrix
import store
import verify

from patcher.cache.layout import cache_dir
from patcher.system.cores import usable_cores


def _row(figure: str, now: str, floor: str, ratio: float | None, goal: str) -> str:
    shown = f"{ratio:.2f}" if ratio is not None else "–"
    return f"| {figure} | {now} | {floor} | {shown} | {goal} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also the matrix in a fresh cache")
    parser.add_argument("--versions", default=">=2026.4.5,<2026.8")
    parser.add_argument("--runs", type=int, default=3, help="verify runs (detect: 5x this)")
    args = parser.parse_args()
    rows = []
    for pin in (0, None):
        d = detect.measure("2026.4.14", 5 * args.runs, pin=pin)
        where = "pinned to one core" if pin is not None else "unpinned"
        rows.append(
            _row(
                f"`detect --root` 2026.4.14 ({d['files']} files), {where}",
                f"{d['detect']:.3f} s, {d['detect'] / d['grep']:.2f}× grep ({d['grep']:.3f} s)",
                f"Python reading the same files: {d['floor'] / d['grep']:.2f}× grep",
                d["detect"] / d["floor"],
                "≤ 1.3× grep" if pin is not None else "≤ 1.5× grep",
            )
        )
    for s in store.measure(5000, 2 * args.runs + 1):
        rows.append(
            _row(
                f"`store validate`, 5,000 jobs ({s['shape']})",
                f"{s['validate']:.3f} s",
                f"json.load {s['json_load']:.3f} s",
                s["validate"] / s["json_load"],
                "≤ 0.25 s and ≤ 3× json.load",
            )
        )
    v = verify.measure("2026.4.14", args.runs, cold=False)
    rows.append(
        _row(
            "`verify --release 2026.4.14`, warm",
            f"{v['wall']:.1f} s ({v['cpu']:.1f} s CPU)",
            f"{verify.PROCESSES} Node loads × {v['load']:.2f} s / {usable_cores()} cores = "
            f"{v['floor']:.1f} s",
            v["wall"] / v["floor"],
            "≤ 9 s",
        )
    )
    warm = matrix.measure(args.versions, False, cache_dir(None), None)
    n, fetched = len(warm["rows"]), len(warm["fetched"])
    # A run that had to fetch releases is not warm: its time is shown, its ratio is not.
    not_warm = f", NOT WARM: {fetched} releases fetched" if fetched else ""
    rows.append(
        _row(
            f"`matrix` {args.versions} ({n} releases), warm",
            f"{warm['wall'] / 60:.1f} min, all as required: {warm['ok']}{not_warm}",
            f"each release's Node loads / cores = {(warm['floor'] or 0) / 60:.1f} min",
            warm["wall"] / warm["floor"] if warm["floor"] and not fetched else None,
            "≤ 4 min",
        )
    )
    if args.cold:
        fresh = Path(tempfile.mkdtemp(prefix="openclaw-patcher-bench-")) / "cache"
        cold = matrix.measure(args.versions, True, fresh, "6G")
        rows.append(
            _row(
                f"`matrix` {args.versions}, cold (fresh cache, npm's too)",
                f"{cold['wall'] / 60:.1f} min, cache {cold['disk_after'] / 2**30:.2f} GiB, "
                f"all as required: {cold['ok']}",
                f"the warm floor ({(warm['floor'] or 0) / 60:.1f} min) + fetching and installing",
                None,  # no floor of its own is measured: fetching has none here
                "≤ 12 min, cache ≤ 6 GB",
            )
        )
    cores = usable_cores()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(f"date: {date.today().isoformat()}\n")
    print("| figure | now | floor | ratio to floor | goal |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
