"""The floor of detect's prefilter in Python: read every .js/.mjs file of a dist and look for
the four needles detect looks for, nothing else (no CLI, no parsing, no judgement).

    python benchmarks/scan_floor.py DIST

`farm-bench --pin 0 --vs "grep -rlF markCronJobActive DIST" -- python benchmarks/scan_floor.py
DIST` shows what a one-core Python prefilter costs against grep's single needle.
"""

from __future__ import annotations

import os
import sys

NEEDLES = (b"CronJobActive", b"hasBackingSession", b"src/cron/store.ts", b"// openclaw-patcher ")


def main(dist: str) -> int:
    hits = 0
    for folder, _, names in os.walk(dist):
        for name in names:
            if name.endswith((".js", ".mjs")):
                with open(os.path.join(folder, name), "rb") as fh:
                    data = fh.read()
                hits += any(needle in data for needle in NEEDLES)
    print(hits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
