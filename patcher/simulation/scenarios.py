"""The restart contract's scenarios, each judged from what processes A and B reported.

Every scenario is a function of the same name below (`SCENARIOS` is derived from them, in
the order of the contract). A failure has a kind: `lost` (a record the sweeper marked lost,
"backing session missing": #79196), `stuck` (a dead run's record left running) or `other`;
the verdict rule (patcher/verification/verdict.py) reads the kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

FailureKind = Literal["lost", "stuck", "other"]
LOST: Final = "lost"  # a record the sweeper marked lost ("backing session missing"): #79196
STUCK: Final = "stuck"  # a dead run's record left running after every run ended
OTHER: Final = "other"
ACTIVE = ("running", "queued")


@dataclass
class ScenarioResult:
    """One scenario of the restart contract: whether it held, why not, what was seen."""

    name: str
    failures: list[tuple[FailureKind, str]] = field(default_factory=list)  # (kind, message)
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def fail(self, kind: FailureKind, message: str) -> None:
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

    def to_json(self, *, pristine: bool) -> dict[str, Any]:
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


@dataclass(frozen=True)
class Observed:
    """What the two processes reported, and what the store held after each."""

    a: dict[str, Any]  # process A: its jobs and the records of the runs it died in
    b: dict[str, Any]  # process B: its sweeps' observations and what it started
    active_ids: list[str] | None  # activeJobIds in the store once B's runs ended
    store_problems: list[str]
    expect_active_ids: bool = False  # the final store must carry activeJobIds
    killed_active_ids: list[str] | None = None  # what the store said when A died
    a_persists: bool = False  # process A ran code that persists activeJobIds

    @property
    def jobs(self) -> dict[str, str]:
        return self.a["jobs"]

    @property
    def dead(self) -> dict[str, dict[str, Any]]:
        return {r["jobId"]: r for r in self.a["records"]}

    @property
    def dead_ids(self) -> set[str]:
        return {r["runId"] for r in self.a["records"]}

    @property
    def observations(self) -> list[dict[str, Any]]:
        return self.b["observations"]

    def at(self, label: str) -> dict[str, Any]:
        return {o["label"]: o for o in self.observations}[label]

    def records_of(self, job: str, label: str) -> list[dict[str, Any]]:
        return [r for r in self.at(label)["records"] if r["jobId"] == self.jobs[job]]


def in_flight_recurring(seen: Observed, result: ScenarioResult) -> None:
    """1. The recurring job R's run that died with A finished truthfully; the catch-up run B
    started was running while it ran and ended by its own outcome."""
    _judge_dead_run(result, seen.dead.get(seen.jobs["R"]), seen.observations)
    during = _by_run(seen.at("live-past-grace"))
    for record in seen.records_of("R", "final"):
        if record["runId"] in seen.dead_ids:
            continue
        now = during.get(record["runId"])
        if now and now["status"] != "running":
            kind = LOST if now["status"] == "lost" else OTHER
            result.fail(kind, f"catch-up run not running while it ran: {_describe(now)}")
        if record["status"] != "succeeded":
            result.fail(
                OTHER, f"catch-up run did not end by its own outcome (ok): {_describe(record)}"
            )
    result.records = seen.records_of("R", "final")


def one_shot_interrupted(seen: Observed, result: ScenarioResult) -> None:
    """2. The one-shot job O: finished truthfully, not replayed, nothing left running."""
    _judge_dead_run(result, seen.dead.get(seen.jobs["O"]), seen.observations)
    if seen.b.get("replayedOneShot"):
        result.fail(OTHER, "the interrupted one-shot job was run again in B")
    result.records = seen.records_of("O", "final")


def startup_race(seen: Observed, result: ScenarioResult) -> None:
    """3. A sweep while start() is still running marks nothing lost."""
    race = seen.observations[0]
    if race["label"] != "race":
        result.notes.append("start() finished before the sweep (no catch-up run held it open)")
    for record in race["records"]:
        if record["status"] == "lost":
            result.fail(LOST, f"marked lost by a sweep during startup: {_describe(record)}")
    result.records = race["records"]


def long_live_runs(seen: Observed, result: ScenarioResult) -> None:
    """4. Catch-up and manual runs that live longer than the grace are not marked lost."""
    during = _by_run(seen.at("live-past-grace"))
    for job, what in (("R", "catch-up"), ("C", "catch-up"), ("M", "manual")):
        running = [
            r
            for r in seen.records_of(job, "live")
            if r["status"] == "running" and r["runId"] not in seen.dead_ids
        ]
        if not running and (job == "M" or (job == "R" and seen.b.get("catchup"))):
            result.fail(OTHER, f"no {what} run of job {job} was running to observe")
        elif not running:
            result.notes.append(f"no {what} run of job {job} was running to observe")
        for record in running:
            now = during.get(record["runId"])
            if now and now["status"] != "running":
                kind = LOST if now["status"] == "lost" else OTHER
                result.fail(
                    kind, f"live {what} run marked {now['status']} past the grace: {_describe(now)}"
                )
    watched = {seen.jobs["R"], seen.jobs["C"], seen.jobs["M"]}
    result.records = [r for r in seen.at("live-past-grace")["records"] if r["jobId"] in watched]


def sweep_from_another_process(seen: Observed, result: ScenarioResult) -> None:
    """5. Task maintenance run by another process (`openclaw tasks maintenance --apply`,
    `tasks audit`: a CLI, whose cron service never started) while B's runs are live past
    the grace marks none of them lost."""
    other = seen.b.get("otherProcess")
    if not other or other.get("timedOut") or other.get("error") or "records" not in other:
        why = (other or {}).get("error") or "process C did not sweep while B's runs were live"
        result.fail(OTHER, f"the sweep from another process could not run: {why}")
        return
    live = {
        r["runId"]
        for r in seen.at("live")["records"]
        if r["status"] == "running" and r["runId"] not in seen.dead_ids
    }
    if not live:
        result.fail(OTHER, "no run of B was live when the other process swept")
    after = {r["runId"]: r for r in other["records"]}
    for run_id in sorted(live):
        record = after.get(run_id)
        if record and record["status"] != "running":
            kind = LOST if record["status"] == "lost" else OTHER
            result.fail(
                kind,
                f"live run marked {record['status']} by another process's sweep: "
                f"{_describe(record)}",
            )
    result.records = [r for r in other["records"] if r["runId"] in live]


def no_zombies(seen: Observed, result: ScenarioResult) -> None:
    """6. Once B's runs end, nothing is running and no active ids stay persisted."""
    final = seen.at("final")
    for record in final["records"]:
        if record["status"] in ACTIVE:
            result.fail(
                STUCK, f"record still {record['status']} after every run ended: {_describe(record)}"
            )
    if seen.active_ids:
        result.fail(
            STUCK, f"the store still lists activeJobIds {seen.active_ids} after every run ended"
        )
    result.records = [r for r in final["records"] if r["status"] in ACTIVE]


def store_compatibility(seen: Observed, result: ScenarioResult) -> None:
    """7. What the code wrote validates against schemas/; B started on it; a patched A
    persisted exactly the jobs it had in flight."""
    for problem in seen.store_problems:
        result.fail(OTHER, problem)
    if seen.b.get("startError"):
        result.fail(
            OTHER, f"CronService.start() failed in B: {seen.b['startError'].splitlines()[0]}"
        )
    if seen.expect_active_ids and seen.active_ids is None:
        result.fail(OTHER, "the patched store does not carry activeJobIds")
    if seen.a_persists:
        in_flight = sorted({r["jobId"] for r in seen.a["records"]})
        if seen.killed_active_ids is None:
            result.fail(OTHER, "the store process A left carries no activeJobIds")
        elif sorted(set(seen.killed_active_ids)) != in_flight:
            result.fail(
                OTHER,
                f"the store process A left lists activeJobIds {sorted(seen.killed_active_ids)}, "
                f"not the jobs it was running {in_flight}",
            )


JUDGES: tuple[Callable[[Observed, ScenarioResult], None], ...] = (
    in_flight_recurring,
    one_shot_interrupted,
    startup_race,
    long_live_runs,
    sweep_from_another_process,
    no_zombies,
    store_compatibility,
)
SCENARIOS = tuple(judge.__name__ for judge in JUDGES)


def evaluate(
    a: dict[str, Any],
    b: dict[str, Any],
    active_ids: list[str] | None,
    store_problems: list[str],
    *,
    expect_active_ids: bool = False,
    killed_active_ids: list[str] | None = None,
    a_persists: bool = False,
) -> dict[str, ScenarioResult]:
    """Judge every scenario of the contract from what processes A and B reported (see
    Observed for the arguments)."""
    seen = Observed(
        a, b, active_ids, store_problems, expect_active_ids, killed_active_ids, a_persists
    )
    results = {}
    for judge in JUDGES:
        results[judge.__name__] = result = ScenarioResult(judge.__name__)
        judge(seen, result)
    return results


def side_summary(side: SideResult) -> str:
    failed = [name for name, s in side.scenarios.items() if not s.passed]
    return "all scenarios passed" if not failed else "failed: " + ", ".join(failed)
