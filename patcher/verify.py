"""`verify`: the restart contract of DESIGN.md, checked on a release's own code.

Process A (the release's real CronService and task registry) runs a recurring job R and a
one-shot job O with blocking runners and is killed with SIGKILL mid-run. Process B, on a
copy of A's state dir and with the clock past the 5-minute grace, starts the real
CronService as the gateway does (start() not awaited, task maintenance configured
`runtimeAuthoritative`) and runs the real sweep: once before start() can finish ("race"),
and in a second copy while the catch-up run of R and a manual run of a third job block in
their runners, then after they end ("main"). Every clock read advances at least 1 ms.

Each scenario of the contract is judged from the task records B observed. On a pristine
affected release the scenarios must fail (the negative control): a record ends `lost` /
"backing session missing", or a dead run's record stays `running`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patcher.runtime import Prepared, prepare, run_harness, run_until_killed, scratch_env
from patcher.statedir import StoreLocation
from patcher.store import ACTIVE_JOB_IDS, inspect_store

HARNESS_NAMES = (
    "CronService",
    "runTaskRegistryMaintenance",
    "listTaskRecords",
)
HARNESS_OPTIONAL = ("ensureTaskRegistryReady", "configureTaskRegistryMaintenance")
GRACE_PLUS_MS = 6 * 60_000
ACTIVE = ("running", "queued")
SCENARIOS = (
    "in_flight_recurring",
    "one_shot_interrupted",
    "startup_race",
    "long_live_runs",
    "no_zombies",
    "store_compatibility",
)


@dataclass
class ScenarioResult:
    """One scenario of the restart contract: whether it held, why not, what was seen."""

    name: str
    passed: bool = True
    failures: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.passed = False
        self.failures.append(message)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "failures": self.failures, "records": self.records}


@dataclass
class SideResult:
    """The scenarios run on one copy of a release (pristine or patched)."""

    scenarios: dict[str, ScenarioResult]
    seconds: float
    node: str

    @property
    def ok(self) -> bool:
        return all(s.passed for s in self.scenarios.values())

    @property
    def bug_reproduced(self) -> bool:
        return not self.ok

    def to_json(self, pristine: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok}
        if pristine:
            out["bug_reproduced"] = self.bug_reproduced
        out["scenarios"] = {name: s.to_json() for name, s in self.scenarios.items()}
        out["seconds"] = round(self.seconds, 1)
        out["node"] = self.node
        return out


def _describe(record: dict[str, Any]) -> str:
    reason = f" ({record['error']})" if record.get("error") else ""
    return f"{record['runId']} {record['status']}{reason}"


def _by_run(observation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["runId"]: r for r in observation["records"]}


def _store_active_ids(state_dir: Path, store: Path) -> list[str] | None:
    report = inspect_store(StoreLocation(state_dir, store, None, "verify"))
    runtime = report.runtime_file
    if runtime is None or runtime.document is None or not isinstance(runtime.document.value, dict):
        return None
    value = runtime.document.value.get(ACTIVE_JOB_IDS)
    return list(value) if isinstance(value, list) else None


def _judge_dead_run(
    result: ScenarioResult, dead: dict[str, Any] | None, observations: list[dict[str, Any]]
) -> None:
    """A run that died with process A: never lost in B, and finished truthfully by the end."""
    if dead is None:
        result.fail("process A left no task record for this run")
        return
    for obs in observations:
        seen = _by_run(obs).get(dead["runId"])
        if seen and seen["status"] == "lost":
            result.fail(f"dead run marked lost at the {obs['label']} sweep: {_describe(seen)}")
            break
    final = _by_run(observations[-1]).get(dead["runId"])
    if final is None:
        result.fail(f"dead run {dead['runId']} vanished instead of being finished")
    elif final["status"] in ACTIVE:
        result.fail(f"dead run still {final['status']} after B's runs ended: {_describe(final)}")
    elif final["status"] != "lost" and not (final.get("error") or final.get("summary")):
        result.fail(f"dead run ended {final['status']} without a reason")


def evaluate(
    a: dict[str, Any],
    race: dict[str, Any],
    main: dict[str, Any],
    active_ids: list[str] | None,
    store_problems: list[str],
) -> dict[str, ScenarioResult]:
    """Judge every scenario of the contract from what processes A and B reported."""
    jobs = a["jobs"]
    dead = {r["jobId"]: r for r in a["records"]}
    observations = main["observations"]
    by_label = {o["label"]: o for o in observations}
    final = by_label["final"]
    results = {name: ScenarioResult(name) for name in SCENARIOS}

    def records_of(job: str, obs: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in obs["records"] if r["jobId"] == jobs[job]]

    # 1. in-flight across restart (recurring R)
    r1 = results["in_flight_recurring"]
    dead_r = dead.get(jobs["R"])
    _judge_dead_run(r1, dead_r, observations)
    dead_run_id = dead_r["runId"] if dead_r else None
    catchups = [r for r in records_of("R", final) if r["runId"] != dead_run_id]
    live = _by_run(by_label["live-past-grace"])
    for record in catchups:
        during = live.get(record["runId"])
        if during and during["status"] != "running":
            r1.fail(f"catch-up run not running while it ran: {_describe(during)}")
        if record["status"] != "succeeded":
            r1.fail(f"catch-up run did not end by its own outcome (ok): {_describe(record)}")
    r1.records = records_of("R", final)

    # 2. one-shot interrupted (O): finished truthfully, not replayed, nothing left running
    r2 = results["one_shot_interrupted"]
    _judge_dead_run(r2, dead.get(jobs["O"]), observations)
    if main.get("replayedOneShot"):
        r2.fail("the interrupted one-shot job was run again in B")
    r2.records = records_of("O", final)

    # 3. startup race: a sweep before start() finished marks nothing lost
    r3 = results["startup_race"]
    for record in race["observations"][0]["records"]:
        if record["status"] == "lost":
            r3.fail(f"marked lost by a sweep during startup: {_describe(record)}")
    r3.records = race["observations"][0]["records"]

    # 4. long live runs: catch-up and manual runs past the grace are not lost
    r4 = results["long_live_runs"]
    live_obs = by_label["live-past-grace"]
    for job, what in (("R", "catch-up"), ("M", "manual")):
        running_before = [r for r in records_of(job, by_label["live"]) if r["status"] == "running"]
        if not running_before:
            if job == "M" or main.get("catchup"):
                r4.fail(f"no {what} run of job {job} was running to observe")
            continue
        for record in running_before:
            now = live.get(record["runId"])
            if now and now["status"] != "running":
                r4.fail(f"live {what} run marked {now['status']} past the grace: {_describe(now)}")
    r4.records = [r for r in live_obs["records"] if r["jobId"] in (jobs["R"], jobs["M"])]

    # 5. no zombies: once B's runs end, nothing running and no active ids persisted
    r5 = results["no_zombies"]
    for record in final["records"]:
        if record["status"] in ACTIVE:
            r5.fail(f"record still {record['status']} after every run ended: {_describe(record)}")
    if active_ids:
        r5.fail(f"the store still lists activeJobIds {active_ids} after every run ended")
    r5.records = [r for r in final["records"] if r["status"] in ACTIVE]

    # 6. store compatibility: what the code wrote validates against schemas/
    r6 = results["store_compatibility"]
    for problem in store_problems:
        r6.fail(problem)
    if main.get("startError"):
        r6.fail(f"CronService.start() failed in B: {main['startError'].splitlines()[0]}")
    return results


def simulate(prepared: Prepared, work: Path) -> SideResult:
    """Run processes A, B-race and B-main on `prepared` in `work`, and judge the scenarios."""
    started = time.monotonic()
    names = {**prepared.symbols}
    optional = [n for n in HARNESS_OPTIONAL if n not in names]
    a_dir = work / "a"
    env = scratch_env(a_dir)
    store = a_dir / "state" / "cron" / "jobs.json"
    a = run_until_killed(
        prepared.node,
        "restart.mjs",
        names,
        {"phase": "a", "storePath": str(store)},
        env,
        "ready",
        clock={"offsetMs": 0, "stepMs": 1},
        optional=optional,
    ).result
    b_results = {}
    for mode in ("race", "main"):
        b_dir = work / mode
        shutil.copytree(a_dir, b_dir, symlinks=True)
        b_store = b_dir / "state" / "cron" / "jobs.json"
        settings = {"phase": "b", "mode": mode, "storePath": str(b_store), "jobs": a["jobs"]}
        b_results[mode] = run_harness(
            prepared.node,
            "restart.mjs",
            names,
            settings,
            scratch_env(b_dir),
            timeout=180,
            clock={"offsetMs": GRACE_PLUS_MS, "stepMs": 1},
            optional=optional,
        ).result
    main_state = work / "main" / "state"
    main_store = main_state / "cron" / "jobs.json"
    report = inspect_store(StoreLocation(main_state, main_store, None, "verify"))
    problems = [
        f"{f.path.name}: {p.pointer or '/'}: {p.message}" for f in report.files for p in f.problems
    ] + [f.error or f.version_error for f in report.files if f.error or f.version_error]
    active = _store_active_ids(main_state, main_store) if report.kind != "sqlite" else None
    scenarios = evaluate(a, b_results["race"], b_results["main"], active, problems)
    return SideResult(scenarios, time.monotonic() - started, prepared.node_source)


def verify_root(root: Path, cache: Path, deps_key: str) -> SideResult:
    """Prepare the install at `root` and run every scenario in a scratch dir (removed after)."""
    prepared = prepare(root, HARNESS_NAMES, cache, deps_key, optional=HARNESS_OPTIONAL)
    with tempfile.TemporaryDirectory(prefix="openclaw-patcher-verify-") as tmp:
        return simulate(prepared, Path(tmp))


def side_summary(side: SideResult) -> str:
    failed = [name for name, s in side.scenarios.items() if not s.passed]
    return "all scenarios passed" if not failed else "failed: " + ", ".join(failed)
