"""Time `verify --release` on one release, warm, beside its floor; and cold once.

    python benchmarks/verify.py [--version 2026.4.14] [--runs 3] [--skip-cold]

Warm: the release, its Node and its dependencies are in the cache; the time is all of
verify: detection, the pristine side's scenarios, the scratch copy repaired by `apply`, the
patched side's scenarios (with the store check) and the rollback identity.

Floor: the restart contract needs seven Node processes on the release's code (A, B and C
on each side, and the unpatched release reading the patched store), and each must load
the release's cron code: thousands of modules, most of a process's CPU. One such load is
timed on its own (the release's CronService loading an empty store, with the compile
cache warm), interleaved with the verify runs; seven of them over the machine's cores is
what no verify can go below. Cold: a fresh cache directory, so the run also fetches the
tarball, a Node if the machine's does not fit, and the dependencies (npm's own cache,
~/.npm, is left as it is).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patcher.cache.layout import cache_dir
from patcher.cache.releases import fetch_release
from patcher.simulation.harness import run_harness, scratch_env
from patcher.simulation.restart import prepare_release
from patcher.system.cores import usable_cores
from patcher.system.selfexec import own_command

PROCESSES = 7  # A, B, C on each side, and the unpatched store reader


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_verify(version: str, cache: str) -> tuple[float, float, dict]:
    """(wall s, CPU s of every process verify ran, its report)."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        own_command("--cache-dir", cache, "verify", "--release", version, "--json"),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"verify failed: {done.stderr.strip()}")
    return elapsed, _children_cpu() - cpu, json.loads(done.stdout)


def one_load(version: str, cache: Path) -> float:
    """CPU seconds of one Node process that loads the release's cron code and reads an
    empty store with it: what each of verify's processes costs before its scenario."""
    prepared = prepare_release(fetch_release(version, cache), cache, version)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        env = scratch_env(Path(tmp), prepared.compile_cache)
        store = Path(tmp) / "state" / "cron" / "jobs.json"
        cpu = _children_cpu()
        run_harness(
            prepared.node,
            "store_reader.mjs",
            {"CronService": prepared.symbols["CronService"]},
            {"storePath": str(store)},
            env,
        )
        return _children_cpu() - cpu


def measure(version: str, runs: int, cold: bool) -> dict:
    """Warm verify's median wall and CPU, the floor (seven Node loads over the cores), and
    with `cold` one run in a fresh cache (seconds)."""
    cache = str(cache_dir())
    run_verify(version, cache)  # make sure everything is cached
    one_load(version, Path(cache))
    timed, loads = [], []
    for _ in range(runs):  # interleaved: a verify, then one load on its own
        timed.append(run_verify(version, cache))
        loads.append(one_load(version, Path(cache)))
    load = statistics.median(loads)
    found = {
        "version": version,
        "runs": runs,
        "wall": statistics.median(r[0] for r in timed),
        "cpu": statistics.median(r[1] for r in timed),
        "load": load,
        "floor": PROCESSES * load / usable_cores(),
        "cold": None,
    }
    if cold:
        fresh = tempfile.mkdtemp(prefix="openclaw-patcher-cold-")
        try:
            found["cold"] = run_verify(version, fresh)[0]
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2026.4.14")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    n = usable_cores()
    print(f"machine  {platform.machine()}, {n} cores, Python {platform.python_version()}")
    m = measure(args.version, args.runs, not args.skip_cold)
    print(
        f"warm     openclaw@{args.version}: median {m['wall']:.1f} s wall, {m['cpu']:.1f} s CPU, "
        f"{args.runs} runs"
    )
    print(
        f"floor    {PROCESSES} Node processes x {m['load']:.2f} s CPU to load the cron code, "
        f"over {n} cores: {m['floor']:.1f} s"
    )
    print(f"ratio    {m['wall'] / m['floor']:.2f} (verify's wall over the floor)")
    if m["cold"] is not None:
        what = "fetch, Node, dependencies, scenarios"
        print(f"cold     openclaw@{args.version}: {m['cold']:.1f} s ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
