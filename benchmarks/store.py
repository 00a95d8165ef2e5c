"""Validate and migrate a 5,000-job cron store; print the times.

    python benchmarks/store.py [--jobs 5000] [--runs 5]

Builds a jobs.json with inline state (the 2026.4.14 shape) and a split jobs.json +
jobs-state.json (2026.4.22+) of N jobs each, a tenth of them running, then times
`inspect_store` (read, parse, validate every file) and `migrate_store` (validate, back up,
write atomically) as the library runs them, median of several runs on fresh copies,
interleaved with the floor: a plain `json.load` of the same files (reading and parsing is
what validation cannot avoid). Prints each as a ratio to that floor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from patcher.cronstore.location import StoreLocation
from patcher.cronstore.store import inspect_store, migrate_store


def make_jobs(n: int, inline: bool, rng: random.Random) -> tuple[list[dict], dict]:
    jobs, states = [], {}
    for i in range(n):
        kind = ("every", "cron", "at")[i % 3]
        schedule = {
            "every": {"kind": "every", "everyMs": 60_000 * (1 + i % 60)},
            "cron": {"kind": "cron", "expr": "*/5 * * * *", "tz": "UTC"},
            "at": {"kind": "at", "at": "2026-04-14T09:00:00.000Z"},
        }[kind]
        payload = (
            {"kind": "agentTurn", "message": f"job {i}", "timeoutSeconds": 600}
            if i % 2
            else {"kind": "systemEvent", "text": f"event {i}"}
        )
        state = {
            "nextRunAtMs": 1_776_000_000_000 + i,
            "lastRunStatus": "ok",
            "consecutiveErrors": 0,
        }
        if rng.random() < 0.1:
            state["runningAtMs"] = 1_776_000_000_000 + i
        job = {
            "id": f"job-{i:05d}",
            "name": f"job number {i}",
            "enabled": True,
            "createdAtMs": 1_775_000_000_000,
            "schedule": schedule,
            "sessionTarget": "isolated" if i % 2 else "main",
            "wakeMode": "now",
            "payload": payload,
            "delivery": {"mode": "announce", "channel": "telegram", "to": str(i)},
            "state": state if inline else {},
        }
        if inline:
            job["updatedAtMs"] = 1_776_000_000_000
        jobs.append(job)
        states[job["id"]] = {"updatedAtMs": 1_776_000_000_000, "state": state}
    return jobs, states


def build(root: Path, n: int, inline: bool) -> StoreLocation:
    rng = random.Random(79196)
    jobs, states = make_jobs(n, inline, rng)
    cron = root / "cron"
    cron.mkdir(parents=True)
    (cron / "jobs.json").write_text(json.dumps({"version": 1, "jobs": jobs}, indent=2))
    if not inline:
        (cron / "jobs-state.json").write_text(json.dumps({"version": 1, "jobs": states}, indent=2))
    return StoreLocation(root, cron / "jobs.json", None, "benchmark")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(jobs: int, runs: int) -> list[dict]:
    """For each store shape: medians of json.load (the floor), validate and migrate (s)."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for inline in (True, False):
            template = Path(tmp) / ("inline" if inline else "split")
            location = build(template, jobs, inline)
            size = sum(p.stat().st_size for p in location.jobs_path.parent.iterdir())
            floor, validate, migrate = [], [], []
            files = sorted(location.jobs_path.parent.glob("*.json"))
            inspect_store(location)  # compiled validators, imports: once, as in any command
            for run in range(runs):
                copy = Path(tmp) / f"run-{inline}-{run}"
                shutil.copytree(template, copy)
                loc = StoreLocation(copy, copy / "cron" / "jobs.json", None, "benchmark")
                floor.append(timed(lambda fs=files: [json.loads(f.read_bytes()) for f in fs]))
                validate.append(timed(lambda loc=loc: inspect_store(loc)))
                migrate.append(timed(lambda loc=loc: migrate_store(loc)))
            found.append(
                {
                    "shape": "jobs.json, inline state" if inline else "jobs.json + jobs-state.json",
                    "jobs": jobs,
                    "bytes": size,
                    "runs": runs,
                    "json_load": statistics.median(floor),
                    "validate": statistics.median(validate),
                    "migrate": statistics.median(migrate),
                }
            )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine  {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    for m in measure(args.jobs, args.runs):
        base = m["json_load"]
        print(
            f"{m['shape']:<28} {m['jobs']} jobs, {m['bytes'] / 1e6:.1f} MB: "
            f"json.load {base:.3f} s; "
            f"validate {m['validate']:.3f} s ({m['validate'] / base:.1f}x), "
            f"migrate {m['migrate']:.3f} s ({m['migrate'] / base:.1f}x), median of {m['runs']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
