"""`verify`: the restart contract of DESIGN.md, checked on a release's own code.

Process A (the release's real CronService and task registry) runs a recurring job R and a
one-shot job O with blocking runners and is killed with SIGKILL mid-run. Process B, on A's
state dir and with the clock past the 5-minute grace, starts the real CronService as the
gateway does (start() not awaited, task maintenance configured `runtimeAuthoritative`)
and runs the real sweep: while start() is still running (the catch-up run of R blocks in
its runner: the startup race); while that catch-up run and a manual run of a third job M
block, past the grace again; and after they end. Every clock read advances >= 1 ms.

Each scenario of the contract is judged from the task records B observed. On a pristine
affected release the scenarios must fail (the negative control): a record ends `lost` /
"backing session missing", or a dead run's record stays `running`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patcher.cache.scratch import scratch
from patcher.cronstore import sqlite as sqlite_store
from patcher.cronstore.location import StoreLocation
from patcher.cronstore.store import ACTIVE_JOB_IDS, inspect_store
from patcher.detection.scan import remembered
from patcher.errors import EXIT_CHECK_FAILED, EXIT_OK
from patcher.repair.plan import PlanRefused, plan, specs_for
from patcher.simulation.harness import (
    HarnessError,
    Prepared,
    prepare,
    run_harness,
    run_until_killed,
    scratch_env,
)
from patcher.verification.copies import repaired_copy, rolled_back_identical
from patcher.verification.verdict import LOST, OTHER, STUCK, Verdict, judge

HARNESS_NAMES = (
    "CronService",
    "runTaskRegistryMaintenance",
    "listTaskRecords",
)
HARNESS_OPTIONAL = ("ensureTaskRegistryReady", "configureTaskRegistryMaintenance")
# What `openclaw doctor --fix` runs on the state database (2026.8.1+).
STATE_REPAIR = "repairOpenClawStateDatabaseSchema"
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
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def fail(self, kind: str, message: str) -> None:
        self.failures.append((kind, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failures": [message for _, message in self.failures],
            # lost, stuck or other, one per failure: what the verdict rule reads.
            "failure_kinds": [kind for kind, _ in self.failures],
            "notes": self.notes,
            "records": self.records,
        }


@dataclass
class SideResult:
    """The scenarios run on one copy of a release (pristine or patched)."""

    scenarios: dict[str, ScenarioResult]
    seconds: float
    node: str
    # Whether the release's sweeper reconciles cron records at all (a cron branch in
    # hasBackingSession, 2026.4.5+). Before that, dead runs' records stay running forever,
    # which is how those releases always behaved, not #79196.
    cron_reconciliation: bool = True

    @property
    def ok(self) -> bool:
        return all(s.passed for s in self.scenarios.values())

    @property
    def only_stuck(self) -> bool:
        """Every failure is a dead run left running (nothing lost, nothing else wrong)."""
        kinds = {kind for s in self.scenarios.values() for kind, _ in s.failures}
        return kinds <= {STUCK}

    @property
    def bug_reproduced(self) -> bool:
        """#79196 shows: a record marked lost, or a dead run left running by a sweeper that
        reconciles cron records."""
        kinds = {kind for s in self.scenarios.values() for kind, _ in s.failures}
        return LOST in kinds or (STUCK in kinds and self.cron_reconciliation)

    def to_json(self, pristine: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok}
        if pristine:
            out["bug_reproduced"] = self.bug_reproduced
        out["cron_reconciliation"] = self.cron_reconciliation
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
    location = StoreLocation(state_dir, store, None, "verify")
    report = inspect_store(location)
    if report.kind == "sqlite":
        return sqlite_store.active_job_ids(location.sqlite_path, sqlite_store.store_key(location))
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
        result.fail(OTHER, "process A left no task record for this run")
        return
    for obs in observations:
        seen = _by_run(obs).get(dead["runId"])
        if seen and seen["status"] == "lost":
            result.fail(
                LOST, f"dead run marked lost at the {obs['label']} sweep: {_describe(seen)}"
            )
            break
    final = _by_run(observations[-1]).get(dead["runId"])
    if final is None:
        result.fail(OTHER, f"dead run {dead['runId']} vanished instead of being finished")
    elif final["status"] in ACTIVE:
        result.fail(
            STUCK, f"dead run still {final['status']} after B's runs ended: {_describe(final)}"
        )
    elif final["status"] != "lost" and not (final.get("error") or final.get("summary")):
        result.fail(OTHER, f"dead run ended {final['status']} without a reason")


def evaluate(
    a: dict[str, Any],
    b: dict[str, Any],
    active_ids: list[str] | None,
    store_problems: list[str],
    expect_active_ids: bool = False,
    killed_active_ids: list[str] | None = None,
    a_patched: bool = False,
) -> dict[str, ScenarioResult]:
    """Judge every scenario of the contract from what processes A and B reported.

    `expect_active_ids`: the final store must carry activeJobIds; `a_patched`: process A ran
    patched code, so the store it left (`killed_active_ids`) lists the runs in flight."""
    jobs = a["jobs"]
    dead = {r["jobId"]: r for r in a["records"]}
    dead_ids = {r["runId"] for r in a["records"]}
    observations = b["observations"]
    by_label = {o["label"]: o for o in observations}
    race, live, past_grace, final = (
        observations[0],
        by_label["live"],
        by_label["live-past-grace"],
        by_label["final"],
    )
    results = {name: ScenarioResult(name) for name in SCENARIOS}

    def records_of(job: str, obs: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in obs["records"] if r["jobId"] == jobs[job]]

    # 1. in-flight across restart (recurring R): the dead run finished truthfully, the
    #    catch-up run running while it ran and ended by its own outcome.
    r1 = results["in_flight_recurring"]
    _judge_dead_run(r1, dead.get(jobs["R"]), observations)
    during = _by_run(past_grace)
    for record in records_of("R", final):
        if record["runId"] in dead_ids:
            continue
        seen = during.get(record["runId"])
        if seen and seen["status"] != "running":
            kind = LOST if seen["status"] == "lost" else OTHER
            r1.fail(kind, f"catch-up run not running while it ran: {_describe(seen)}")
        if record["status"] != "succeeded":
            r1.fail(OTHER, f"catch-up run did not end by its own outcome (ok): {_describe(record)}")
    r1.records = records_of("R", final)

    # 2. one-shot interrupted (O): finished truthfully, not replayed, nothing left running.
    r2 = results["one_shot_interrupted"]
    _judge_dead_run(r2, dead.get(jobs["O"]), observations)
    if b.get("replayedOneShot"):
        r2.fail(OTHER, "the interrupted one-shot job was run again in B")
    r2.records = records_of("O", final)

    # 3. startup race: a sweep while start() is still running marks nothing lost.
    r3 = results["startup_race"]
    if race["label"] != "race":
        r3.notes.append("start() finished before the sweep (no catch-up run held it open)")
    for record in race["records"]:
        if record["status"] == "lost":
            r3.fail(LOST, f"marked lost by a sweep during startup: {_describe(record)}")
    r3.records = race["records"]

    # 4. long live runs: catch-up and manual runs older than the grace are not lost.
    r4 = results["long_live_runs"]
    for job, what in (("R", "catch-up"), ("C", "catch-up"), ("M", "manual")):
        running = [
            r
            for r in records_of(job, live)
            if r["status"] == "running" and r["runId"] not in dead_ids
        ]
        if not running and (job == "M" or (job == "R" and b.get("catchup"))):
            r4.fail(OTHER, f"no {what} run of job {job} was running to observe")
        elif not running:
            r4.notes.append(f"no {what} run of job {job} was running to observe")
        for record in running:
            now = during.get(record["runId"])
            if now and now["status"] != "running":
                kind = LOST if now["status"] == "lost" else OTHER
                r4.fail(
                    kind, f"live {what} run marked {now['status']} past the grace: {_describe(now)}"
                )
    r4.records = [
        r for r in past_grace["records"] if r["jobId"] in (jobs["R"], jobs["C"], jobs["M"])
    ]

    # 5. no zombies: once B's runs end, nothing running and no active ids persisted.
    r5 = results["no_zombies"]
    for record in final["records"]:
        if record["status"] in ACTIVE:
            r5.fail(
                STUCK, f"record still {record['status']} after every run ended: {_describe(record)}"
            )
    if active_ids:
        r5.fail(STUCK, f"the store still lists activeJobIds {active_ids} after every run ended")
    r5.records = [r for r in final["records"] if r["status"] in ACTIVE]

    # 6. store compatibility: what the code wrote validates against schemas/.
    r6 = results["store_compatibility"]
    for problem in store_problems:
        r6.fail(OTHER, problem)
    if b.get("startError"):
        r6.fail(OTHER, f"CronService.start() failed in B: {b['startError'].splitlines()[0]}")
    if expect_active_ids and active_ids is None:
        r6.fail(OTHER, "the patched store does not carry activeJobIds")
    if a_patched:
        # What the patched code persisted while A ran: exactly the jobs with a run in flight.
        in_flight = sorted({r["jobId"] for r in a["records"]})
        if killed_active_ids is None:
            r6.fail(OTHER, "the store process A left carries no activeJobIds")
        elif sorted(set(killed_active_ids)) != in_flight:
            r6.fail(
                OTHER,
                f"the store process A left lists activeJobIds {sorted(killed_active_ids)}, "
                f"not the jobs it was running {in_flight}",
            )
    return results


def simulate(
    prepared: Prepared,
    work: Path,
    patched: bool = False,
    unpatched: Prepared | None = None,
    as_unpatched_store: bool = False,
    upgrade: Prepared | None = None,
) -> SideResult:
    """Run the scenarios, installing packages a lazy import asks for on the way.

    With `upgrade`, process B runs that release's code instead (an upgrade after A died)."""

    def attempt() -> SideResult:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        return _simulate(prepared, work, patched, unpatched, as_unpatched_store, upgrade)

    if upgrade is not None:
        return prepared.run(lambda: upgrade.run(attempt))
    return prepared.run(attempt)


def _strip_active_ids(state_dir: Path, store: Path) -> None:
    """Make the store what an unpatched gateway leaves: the same, without activeJobIds."""
    from patcher.files.jsonio import dumps

    location = StoreLocation(state_dir, store, None, "verify")
    if location.sqlite_path.is_file():
        sqlite_store.delete_active_row(location.sqlite_path, sqlite_store.store_key(location))
    for path in (store, location.state_path):
        if path.is_file():
            value = json.loads(path.read_text())
            if isinstance(value, dict) and value.pop(ACTIVE_JOB_IDS, None) is not None:
                path.write_bytes(dumps(value))


def _simulate(
    prepared: Prepared,
    work: Path,
    patched: bool,
    unpatched: Prepared | None,
    as_unpatched_store: bool,
    upgrade: Prepared | None = None,
) -> SideResult:
    """Run processes A and B on `prepared` (B on `upgrade` if given) in `work`, and judge
    the scenarios."""
    started = time.monotonic()
    names = {**prepared.symbols}
    optional = [n for n in HARNESS_OPTIONAL if n not in names]
    b_side = upgrade or prepared
    b_optional = [n for n in HARNESS_OPTIONAL if n not in b_side.symbols]
    run_dir = work / "run"
    env = scratch_env(run_dir)
    state = run_dir / "state"
    store = state / "cron" / "jobs.json"
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
    killed_active = _store_active_ids(state, store) if patched else None
    upgrade_problems = _upgrade_state(upgrade, env) if upgrade is not None else []
    if as_unpatched_store:
        # The gateway that died ran the unpatched code (apply happens under a running
        # gateway): B must derive the active ids from state.runningAtMs.
        _strip_active_ids(state, store)
    # B runs in the same state dir path as A: from 2026.6.1 the SQLite cron store keys its
    # rows by the store path, and a restarted gateway uses the path it used before.
    settings = {"phase": "b", "storePath": str(store), "jobs": a["jobs"]}
    b = run_harness(
        b_side.node,
        "restart.mjs",
        {**b_side.symbols},
        settings,
        env,
        timeout=180,
        clock={"offsetMs": GRACE_PLUS_MS, "stepMs": 1},
        optional=b_optional,
    ).result
    if upgrade is None:
        report = inspect_store(StoreLocation(state, store, None, "verify"))
        problems = [
            f"{f.path.name}: {p.pointer or '/'}: {p.message}"
            for f in report.files
            for p in f.problems
        ] + [f.error or f.version_error for f in report.files if f.error or f.version_error]
    else:  # the store is the newer release's now, in its own schema
        problems = upgrade_problems
    # After an upgrade the release no longer writes the row: it stays as A left it.
    active = _store_active_ids(state, store) if upgrade is None else None
    scenarios = evaluate(
        a,
        b,
        active,
        problems,
        expect_active_ids=patched and upgrade is None,
        killed_active_ids=killed_active,
        a_patched=patched,
    )
    if unpatched is not None:
        # Rollback safety: the unpatched release must load the store the patched one wrote.
        try:
            run_harness(
                unpatched.node,
                "store_reader.mjs",
                {"CronService": unpatched.symbols["CronService"]},
                {"storePath": str(store)},
                env,
                timeout=120,
            )
        except HarnessError as exc:
            scenarios["store_compatibility"].fail(
                OTHER, f"the unpatched release cannot load the patched store: {exc}"
            )
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


def verify_root(
    root: Path,
    cache: Path,
    deps_key: str | None,
    cron_reconciliation: bool = True,
    patched: bool = False,
    unpatched: Prepared | None = None,
    as_unpatched_store: bool = False,
    like: Prepared | None = None,
) -> SideResult:
    """Prepare the install at `root` and run every scenario in a scratch dir (removed after).

    With `unpatched` (the pristine release of a patched copy), also check that the
    unpatched release loads the store the patched code wrote. `like`: the same release
    prepared at another root (the copy is prepared from it without scanning again)."""
    prepared = (
        like.rerooted(root)
        if like is not None
        else prepare(root, HARNESS_NAMES, cache, deps_key, optional=HARNESS_OPTIONAL)
    )
    with scratch(cache, "verify") as tmp:
        side = simulate(prepared, tmp / "work", patched, unpatched, as_unpatched_store)
    side.cron_reconciliation = cron_reconciliation
    return side


def side_summary(side: SideResult) -> str:
    failed = [name for name, s in side.scenarios.items() if not s.passed]
    return "all scenarios passed" if not failed else "failed: " + ", ".join(failed)


@dataclass
class VerifyReport:
    """What `verify` found for one install or release."""

    root: Path
    version: str
    status: str
    family: str | None
    pristine: SideResult | None = None
    patched: SideResult | None = None
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    rollback_identical: bool | None = None  # None: no patched copy was made
    no_sweeper: bool = False  # a release without a task sweeper: nothing can be marked lost

    @property
    def verdict(self) -> Verdict:
        return judge(self._fields())

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.verdict.ok else EXIT_CHECK_FAILED

    def to_json(self) -> dict[str, Any]:
        return {**self._fields(), "ok": self.verdict.ok}

    def _fields(self) -> dict[str, Any]:
        return {
            "schema": "openclaw-patcher/verify/1",
            "version": self.version,
            "root": str(self.root),
            "status": self.status,
            "family": self.family,
            "pristine": self.pristine.to_json(pristine=True) if self.pristine else None,
            "patched": self.patched.to_json(pristine=False) if self.patched else None,
            "rollback_identical": self.rollback_identical,
            "no_sweeper": self.no_sweeper,
            "notes": self.notes,
            "summary": self.summary,
        }


def verify_install(root: Path, cache: Path, fetched: bool) -> VerifyReport:
    """Detect the release at `root`, run the scenarios on it, and give the verdict.

    A fetched release (`--release`) gets its dependencies installed into the cache; an
    existing install (`--root`) runs with its own node_modules.
    """
    with remembered():  # detect, prepare, plan and the copy's apply scan the same files
        return _verify_install(root, cache, fetched)


def _verify_install(root: Path, cache: Path, fetched: bool) -> VerifyReport:
    from patcher.detection.detect import detect_install
    from patcher.detection.families import AFFECTED, UNKNOWN
    from patcher.detection.install import open_install
    from patcher.errors import RefusedError

    detection = detect_install(open_install(root))
    install, verdict = detection.install, detection.verdict
    report = VerifyReport(install.root, install.version, verdict.status, verdict.family)
    report.notes.extend(verdict.notes)
    if verdict.status == UNKNOWN:
        raise RefusedError(
            f"{install.root}: {verdict.reason}; verify refuses an unknown code shape."
        )
    if not detection.bundles.primaries("sweeper"):
        report.no_sweeper = True
        report.summary = "no task sweeper in this release: cron runs are never marked lost"
        return report
    deps_key = install.version if fetched else None
    reconciles = bool(detection.bundles.facts("sweeper").get("cron_branch"))
    specs = (
        specs_for(verdict.family, install.version, verdict.store)
        if verdict.status == AFFECTED
        else []
    )
    patched_plan = None
    if specs:
        try:
            patched_plan = plan(
                install.root, detection.bundles, specs, verdict.store, install.version
            )
        except PlanRefused as exc:
            report.notes.append(f"the repair cannot be planned here: {exc}")
    if patched_plan is not None and patched_plan.applied and not fetched:
        # verify --root on a patched install: what runs is the patched code.
        report.patched = verify_root(install.root, cache, None, reconciles, patched=True)
        report.summary = (
            "patched: every scenario of the restart contract holds"
            if report.patched.ok
            else f"patched install fails the restart contract: {side_summary(report.patched)}"
        )
        return report
    pristine = prepare(install.root, HARNESS_NAMES, cache, deps_key, optional=HARNESS_OPTIONAL)
    report.pristine = verify_root(install.root, cache, deps_key, reconciles, like=pristine)
    reproduced = report.pristine.bug_reproduced
    if verdict.status != AFFECTED:
        if reproduced:
            report.summary = (
                f"the bug shows on a release judged {verdict.status}: "
                f"{side_summary(report.pristine)}"
            )
        elif report.pristine.ok:
            report.summary = f"{verdict.status}: every scenario of the restart contract holds"
        elif not reconciles and report.pristine.only_stuck:
            report.summary = (
                f"{verdict.status}: #79196 does not show (no record is marked lost); this "
                "release's sweeper never reconciles cron records, so dead runs stay running "
                f"as they always did here ({side_summary(report.pristine)})"
            )
        else:
            report.summary = (
                f"{verdict.status}, but the simulation does not hold on the release's own "
                f"code ({side_summary(report.pristine)}): nothing is proven here"
            )
        return report
    if not reproduced:
        report.summary = (
            "negative control failed: the bug did not show on this affected pristine release, "
            "so the simulation proves nothing here"
        )
        return report
    if patched_plan is None:
        report.summary = (
            f"affected: bug reproduced on the pristine release ({side_summary(report.pristine)}); "
            "no patch spec covers this release yet"
            if not specs
            else f"affected: bug reproduced on the pristine release; the repair does not "
            f"plan on this release ({report.notes[-1]})"
        )
        return report
    with repaired_copy(install.root, cache) as copy:
        report.patched = verify_root(
            copy, cache, None, reconciles, patched=True, unpatched=pristine, like=pristine
        )
        report.rollback_identical = rolled_back_identical(copy, install.root, cache)
    holds = report.patched.ok and report.rollback_identical
    if holds:
        report.summary = (
            "bug reproduced on the pristine release; the patched copy holds every scenario, "
            "and rollback restores it byte for byte"
        )
    elif not report.patched.ok:
        report.summary = (
            f"the patched copy fails the restart contract: {side_summary(report.patched)}"
        )
    else:
        report.summary = "the patched copy holds, but rollback does not restore every file"
    return report


def verify_upgrade(from_version: str, to_version: str, cache: Path, patched: bool = True):
    """A (patched) install upgraded across a crash: run process A on a patched scratch copy
    of `from_version` (the pristine release with `patched=False`, the control) and kill it
    mid-run, migrate the state database as `openclaw doctor --fix` does, then start
    `to_version`'s own code as process B on the same state dir and sweep. The persisted
    activeJobIds stay behind, unread. Returns the scenarios as B saw them."""
    from patcher.cache.releases import fetch_release

    old, new = fetch_release(from_version, cache), fetch_release(to_version, cache)
    # (A patched copy links the pristine release's dependency install: prepare it first.)
    pristine = prepare(old, HARNESS_NAMES, cache, from_version, optional=HARNESS_OPTIONAL)
    upgrade = prepare(
        new, HARNESS_NAMES, cache, to_version, optional=(*HARNESS_OPTIONAL, STATE_REPAIR)
    )
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(scratch(cache, "upgrade"))
        if not patched:
            return simulate(pristine, tmp / "work", upgrade=upgrade)
        copy = stack.enter_context(repaired_copy(old, cache))
        a_side = pristine.rerooted(copy)
        return simulate(a_side, tmp / "work", patched=True, upgrade=upgrade)
