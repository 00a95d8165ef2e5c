"""The restart simulation on a release's own code: process A killed mid-run, process B.

Process A (the release's real CronService and task registry) runs a recurring job R and a
one-shot job O with blocking runners and is killed with SIGKILL mid-run. Process B, on A's
state dir and with the clock past the 5-minute grace, starts the real CronService as the
gateway does (start() not awaited, task maintenance configured `runtimeAuthoritative`)
and runs the real sweep: while start() is still running (the catch-up run of R blocks in
its runner: the startup race); while that catch-up run and a manual run of a third job M
block, past the grace again; and after they end. Meanwhile, while those runs are live past
the grace, process C runs the release's own task maintenance beside B as a CLI process does
(`openclaw tasks maintenance --apply`). Every clock read advances >= 1 ms.
The scenarios are judged in patcher/simulation/scenarios.py.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from patcher.cache.scratch import scratch
from patcher.cronstore import sqlite
from patcher.cronstore.location import StoreLocation
from patcher.cronstore.store import ACTIVE_JOB_IDS, inspect_store
from patcher.files.jsonio import dumps
from patcher.simulation.harness import (
    HarnessError,
    Prepared,
    Started,
    open_gate,
    prepare,
    run_harness,
    run_until_killed,
    scratch_env,
    start_harness,
)
from patcher.simulation.scenarios import OTHER, SideResult, evaluate

HARNESS_NAMES = (
    "CronService",
    "runTaskRegistryMaintenance",
    "listTaskRecords",
)
HARNESS_OPTIONAL = ("ensureTaskRegistryReady", "configureTaskRegistryMaintenance")
# What `openclaw doctor --fix` runs on the state database (2026.8.1+).
STATE_REPAIR = "repairOpenClawStateDatabaseSchema"
# Six minutes: past the sweeper's five-minute grace. Process B's clock starts that far
# ahead, and restart.mjs moves it that far again before its later sweeps.
GRACE_PLUS_MS = 6 * 60_000
CLOCK_STEP_MS = 1  # every Date.now() read advances at least this much


def store_active_ids(state_dir: Path, store: Path) -> list[str] | None:
    """The activeJobIds the store at `store` persists (JSON or SQLite), None when none."""
    location = StoreLocation(state_dir, store, None, "verify")
    report = inspect_store(location)
    if report.kind == "sqlite":
        return sqlite.active_job_ids(location.sqlite_path, sqlite.store_key(location))
    runtime = report.runtime_file
    if runtime is None or runtime.document is None or not isinstance(runtime.document.value, dict):
        return None
    value = runtime.document.value.get(ACTIVE_JOB_IDS)
    return list(value) if isinstance(value, list) else None


def simulate(
    prepared: Prepared,
    work: Path,
    *,
    patched: bool = False,
    active_ids: bool = True,
    unpatched: Prepared | None = None,
    as_unpatched_store: bool = False,
    upgrade: Prepared | None = None,
) -> SideResult:
    """Run the scenarios, installing packages a lazy import asks for on the way.

    `active_ids`: the patched code keeps activeJobIds in the store (the repair's specs say).
    With `upgrade`, process B runs that release's code instead (an upgrade after A died)."""

    def attempt() -> SideResult:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        persisted = patched and active_ids
        return _simulate(prepared, work, patched, persisted, unpatched, as_unpatched_store, upgrade)

    if upgrade is not None:
        return prepared.run(lambda: upgrade.run(attempt))
    return prepared.run(attempt)


def _strip_active_ids(state_dir: Path, store: Path) -> None:
    """Make the store what an unpatched gateway leaves: the same, without activeJobIds."""
    location = StoreLocation(state_dir, store, None, "verify")
    if location.sqlite_path.is_file():
        sqlite.delete_active_row(location.sqlite_path, sqlite.store_key(location))
    for path in (store, location.state_path):
        if path.is_file():
            value = json.loads(path.read_text())
            if isinstance(value, dict) and value.pop(ACTIVE_JOB_IDS, None) is not None:
                path.write_bytes(dumps(value))


def _optional(side: Prepared) -> list[str]:
    return [n for n in HARNESS_OPTIONAL if n not in side.symbols]


def _run_a(prepared: Prepared, store: Path, env: dict[str, str]) -> dict:
    """Process A: run R and O into their runners, then die by SIGKILL."""
    return run_until_killed(
        prepared.node,
        "restart.mjs",
        {**prepared.symbols},
        {"phase": "a", "storePath": str(store)},
        env,
        "ready",
        clock={"offsetMs": 0, "stepMs": CLOCK_STEP_MS},
        optional=_optional(prepared),
    ).result


def _run_b(side: Prepared, store: Path, jobs: dict, env: dict[str, str], work: Path) -> dict:
    """Process B: start past the grace in A's state dir, sweep at each moment of interest.
    It runs with the same store path as A: from 2026.6.1 the SQLite cron store keys its
    rows by that path, and a restarted gateway uses the path it used before. While its runs
    are live past the grace, process C sweeps from beside it (`_start_c`); what C left is
    B's `otherProcess`."""
    window, done = work / "other-process.window", work / "other-process.done"
    settings = {
        "phase": "b",
        "storePath": str(store),
        "jobs": jobs,
        "gracePlusMs": GRACE_PLUS_MS,
        "otherProcess": {"window": str(window), "done": str(done), "timeoutMs": 120_000},
    }
    c = _start_c(side, env, window)
    other: dict[str, Any] = {}
    helper = threading.Thread(target=_finish_c, args=(c, done, other), daemon=True)
    helper.start()
    try:
        b = run_harness(
            side.node,
            "restart.mjs",
            {**side.symbols},
            settings,
            env,
            timeout=240,
            clock={"offsetMs": GRACE_PLUS_MS, "stepMs": CLOCK_STEP_MS},
            optional=_optional(side),
        ).result
    finally:
        c.cancel()  # B is done: a C still waiting for its window never gets one
        helper.join()
    if b.get("otherProcess") is not None:
        b["otherProcess"].update(other)
    return b


def _start_c(side: Prepared, env: dict[str, str], window: Path) -> Started:
    """Process C, started with B: it loads the release's code beside B, then waits for B's
    window; at B's time, on B's state, it runs the release's own task maintenance as a CLI
    process runs it (`openclaw tasks maintenance --apply`)."""
    return start_harness(
        side.node,
        "restart.mjs",
        {**side.symbols},
        {"phase": "c"},
        env,
        clock={"offsetMs": GRACE_PLUS_MS, "stepMs": CLOCK_STEP_MS},  # B's time, set at the window
        optional=_optional(side),
        gate=window,
    )


def _finish_c(c: Started, done: Path, out: dict[str, Any]) -> None:
    """Wait for what C reports, then tell B it has swept."""
    try:
        out.update(c.result(timeout=240).result)
    except HarnessError as exc:
        out["error"] = str(exc)
    finally:
        done.touch()


def list_cron_records(side: Prepared, state_dir: Path) -> list[dict[str, Any]]:
    """The cron task records of `state_dir` as the release's own registry reader lists them."""
    env = scratch_env(state_dir.parent, side.compile_cache)
    run = run_harness(
        side.node, "restart.mjs", {**side.symbols}, {"phase": "list"}, env, timeout=120,
        optional=_optional(side),
    )  # fmt: skip
    return run.result["records"]


def _store_problems(state: Path, store: Path) -> tuple[list[str], list[str]]:
    """What is wrong with the store B left, by schemas/; and, apart, the files of a store
    version this tool does not know (a release newer than the ones it repairs)."""
    report = inspect_store(StoreLocation(state, store, None, "verify"))
    problems = [
        f"{f.path.name}: {p.pointer or '/'}: {p.message}" for f in report.files for p in f.problems
    ] + [f.error for f in report.files if f.error]
    return problems, [f.version_error for f in report.files if f.version_error]


def _start_reader(unpatched: Prepared, store: Path, env: dict[str, str], gate: Path) -> Started:
    """Rollback safety: the unpatched release's CronService loads the store the patched code
    left, as the gateway does at start once rollback has run. Started beside B (its load
    overlaps B), it reads the store once the gate opens, when B is done."""
    return start_harness(
        unpatched.node,
        "store_reader.mjs",
        {"CronService": unpatched.symbols["CronService"]},
        {"storePath": str(store)},
        {**env, **_compile_cache_env(unpatched)},
        gate=gate,
    )


def _compile_cache_env(side: Prepared) -> dict[str, str]:
    return {"NODE_COMPILE_CACHE": str(side.compile_cache)} if side.compile_cache else {}


def _unpatched_cannot_load(reader: Started, gate: Path) -> str | None:
    """Why the unpatched release cannot load the patched store, if so (_start_reader)."""
    open_gate(gate)
    try:
        reader.result(timeout=120)
    except HarnessError as exc:
        return f"the unpatched release cannot load the patched store: {exc}"
    return None


def _simulate(
    prepared: Prepared,
    work: Path,
    patched: bool,
    active_ids: bool,
    unpatched: Prepared | None,
    as_unpatched_store: bool,
    upgrade: Prepared | None = None,
) -> SideResult:
    """Run processes A and B on `prepared` (B on `upgrade` if given) in `work`, and judge
    the scenarios."""
    started = time.monotonic()
    run_dir = work / "run"
    env = scratch_env(run_dir, prepared.compile_cache)
    state = run_dir / "state"
    store = state / "cron" / "jobs.json"
    a = _run_a(prepared, store, env)
    killed_active = store_active_ids(state, store) if active_ids else None
    upgrade_problems = _upgrade_state(upgrade, env) if upgrade is not None else []
    if as_unpatched_store:
        # The gateway that died ran the unpatched code (apply happens under a running
        # gateway): B must derive the active ids from state.runningAtMs.
        _strip_active_ids(state, store)
    reader_gate = work / "reader.go"
    reader = _start_reader(unpatched, store, env, reader_gate) if unpatched is not None else None
    try:
        b = _run_b(upgrade or prepared, store, a["jobs"], env, work)
        # After an upgrade the store is the newer release's, in its own schema, and it no
        # longer writes the activeJobIds row: the row stays as A left it.
        problems, unknown = (
            _store_problems(state, store) if upgrade is None else (upgrade_problems, [])
        )
        if patched:  # the patched code must write a store this tool knows; a release it
            problems += unknown  # does not repair may write one of a newer version
        active = store_active_ids(state, store) if upgrade is None else None
        scenarios = evaluate(
            a,
            b,
            active,
            problems,
            expect_active_ids=active_ids and upgrade is None,
            killed_active_ids=killed_active,
            a_persists=active_ids,
        )
        if reader is not None:
            failure = _unpatched_cannot_load(reader, reader_gate)
            if failure:
                scenarios["store_compatibility"].fail(OTHER, failure)
    finally:
        if reader is not None:
            reader.cancel()  # no-op once its result is read
    if not patched and unknown:
        scenarios["store_compatibility"].notes.append(f"not judged: {unknown[0]}")
    return SideResult(scenarios, time.monotonic() - started, prepared.node_source)


def _upgrade_state(upgrade: Prepared, env: dict[str, str]) -> list[str]:
    """Run the newer release's state database migration, as `openclaw doctor --fix` does on
    an upgrade; its warnings are problems of the store the patched release left."""
    if STATE_REPAIR not in upgrade.symbols:
        return []
    result = run_harness(
        upgrade.node,
        "state_repair.mjs",
        {STATE_REPAIR: upgrade.symbols[STATE_REPAIR]},
        {},
        env,
        timeout=120,
    ).result
    return [f"upgrade migration: {warning}" for warning in result["warnings"]]


def prepare_release(root: Path, cache: Path, deps_key: str | None, *extra: str) -> Prepared:
    """The release at `root` ready for the restart simulation (and `extra` functions)."""
    return prepare(root, HARNESS_NAMES, cache, deps_key, optional=(*HARNESS_OPTIONAL, *extra))


def verify_root(
    root: Path,
    cache: Path,
    deps_key: str | None,
    *,
    cron_reconciliation: bool = True,
    patched: bool = False,
    active_ids: bool = True,
    unpatched: Prepared | None = None,
    as_unpatched_store: bool = False,
    like: Prepared | None = None,
    compile_cache: Path | None = None,
) -> SideResult:
    """Prepare the install at `root` and run every scenario in a scratch dir (removed after).

    With `unpatched` (the pristine release of a patched copy), also check that the
    unpatched release loads the store the patched code wrote. `like`: the same release
    prepared at another root (the copy is prepared from it without scanning again).
    `compile_cache`: where Node keeps what it compiles for this root (a kept copy's)."""
    prepared = like.rerooted(root) if like is not None else prepare_release(root, cache, deps_key)
    if compile_cache is not None:
        prepared = dataclasses.replace(prepared, compile_cache=compile_cache)
    with scratch(cache, "verify") as tmp:
        side = simulate(
            prepared,
            tmp / "work",
            patched=patched,
            active_ids=active_ids,
            unpatched=unpatched,
            as_unpatched_store=as_unpatched_store,
        )
    side.cron_reconciliation = cron_reconciliation
    return side
