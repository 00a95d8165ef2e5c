"""The restart contract on the real gateway: what one side (pristine or patched) must show.

1. `in_flight_restart`: a scheduled run of job R is in flight (its task record `running`,
   the stand-in model holding its request) when the gateway is SIGKILLed; a second gateway
   starts on the same state with the clock six minutes on (past the five-minute grace).
   After the sweeper has run (5 s after maintenance starts, then every 60 s) the dead run's
   record must be terminal with a reason: never `lost`, never still `running`.
2. `run_after_restart`: a run of R started by the second gateway ends by its own outcome
   (`succeeded`: the model answers at once now).
3. `manual_run_held`: a manual `openclaw cron run` of job M is held open, the clock moves
   six minutes on, a sweep passes: its record must not be `lost` (4.5 – 5.11 mark it so),
   and end `succeeded` once the model answers, or by the release's own outcome with a
   reason (2026.7.x aborts the held agent turn once the clock has jumped).
4. `keeps_working`: the gateway still answers `/health`, `openclaw --version`,
   `openclaw cron list --json` and `openclaw tasks list --json`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from patcher.gateway.process import GatewayFailed, GatewayRun
from patcher.simulation.scenarios import LOST, OTHER, STUCK, ScenarioResult, SideResult

GRACE_PLUS_MS = 6 * 60_000  # past OpenClaw's five-minute grace since the record's last event
SWEEP_WAIT = 75.0  # the first sweep 5 s after start, then one every 60 s
SETTLE_MIN = 10.0  # the first sweep comes 5 s after start: never judge before it
# A job every minute starts within one; a busy machine and 2026.4.x's slow first agent
# turn have taken over two (130 s seen with the real clock). Not more often: with a job
# every 10 s, 2026.4.22's gateway B ran agent turns back to back (its first one spends
# 30-50 s here setting up plugins), and beside other tests its CLI calls failed.
EVERY = "1m"
RUN_WAIT = 240.0
LOST_REASON = "backing session missing"
TERMINAL = {"succeeded", "failed", "timed_out", "cancelled", "lost"}

Progress = Callable[[str], None]


def _describe(record: dict[str, Any]) -> str:
    reason = record.get("error") or record.get("terminalSummary") or ""
    return f"{record.get('runId')} {record.get('status')}" + (f" ({reason})" if reason else "")


def _wait(what: str, predicate: Callable[[], Any], timeout: float, step: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise GatewayFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def records_of(run: GatewayRun, job_id: str) -> list[dict[str, Any]]:
    return [r for r in run.tasks() if r.get("sourceId") == job_id]


def _add_job(run: GatewayRun, name: str, word: str, every: str) -> str:
    added = run.cli_json(
        "cron", "add", "--name", name, "--every", every, "--session", "isolated",
        "--message", f"Reply with one word. {word}", "--timeout-seconds", "3600",
        "--no-deliver", "--json",
    )  # fmt: skip
    job_id = (added.get("job") or added).get("id") if isinstance(added, dict) else None
    if not isinstance(job_id, str):
        raise GatewayFailed(f"openclaw cron add printed no job id: {str(added)[:200]}")
    return job_id


def start_held_run(run: GatewayRun, name: str, word: str) -> tuple[str, list[dict[str, Any]]]:
    """Add job `name`, every minute, whose model call holds on `word`, and wait until its
    scheduled run is in flight (the model holding it, its task record `running`): the job's
    id and those records."""
    run.model.hold(word)
    job = _add_job(run, name, word, EVERY)
    running = _wait(
        f"job {name}'s run in flight",
        lambda: (
            run.model.holding(word)
            and [r for r in records_of(run, job) if r.get("status") == "running"]
        ),
        RUN_WAIT,
    )
    return job, running


def run_side(run: GatewayRun, progress: Progress) -> SideResult:
    """Run every scenario on one install; the gateway is left stopped."""
    started = time.monotonic()
    scenarios = {
        name: ScenarioResult(name)
        for name in ("in_flight_restart", "run_after_restart", "manual_run_held", "keeps_working")
    }
    nonce = uuid.uuid4().hex[:8]
    word_r, word_m = f"JOB-R-{nonce}", f"JOB-M-{nonce}"
    run.prepare()
    try:
        progress(f"gateway A starting ({run.root})")
        run.start()
        progress("waiting for job R's scheduled run to be in flight (up to a minute)")
        job_r, dead = start_held_run(run, "R", word_r)
        dead_ids = {r["runId"] for r in dead}
        progress(f"killing gateway A mid-run ({', '.join(sorted(dead_ids))})")
        run.kill()
        run.model.release(word_r)
        run.shift_clock(GRACE_PLUS_MS)
        progress("gateway B starting, six minutes later (the clock moved, or waited out)")
        run.start()
        ready_at = time.monotonic()
        _judge_restart(run, job_r, dead_ids, ready_at, scenarios, progress)
        _manual_run(run, word_m, scenarios["manual_run_held"], progress)
        _keeps_working(run, scenarios["keeps_working"])
    finally:
        run.close()  # a step that could not be observed raises: never a "no bug"
    return SideResult(scenarios, time.monotonic() - started, f"gateway {run.node}")


def _judge_restart(
    run: GatewayRun,
    job_r: str,
    dead_ids: set[str],
    ready_at: float,
    scenarios: dict[str, ScenarioResult],
    progress: Progress,
) -> None:
    progress("waiting for the sweeper (5 s after start, then every 60 s)")

    def settled():
        records = {r["runId"]: r for r in records_of(run, job_r)}
        dead = [records.get(i) for i in dead_ids]
        if time.monotonic() - ready_at < SETTLE_MIN:
            return None
        if all(d is not None and d.get("status") in TERMINAL for d in dead):
            return records
        return records if time.monotonic() - ready_at > SWEEP_WAIT else None

    records = _wait("the dead run's record to settle", settled, SWEEP_WAIT + 30)
    restart = scenarios["in_flight_restart"]
    for run_id in sorted(dead_ids):
        record = records.get(run_id)
        if record is None:
            restart.fail(OTHER, f"the dead run's record {run_id} vanished")
        elif record.get("status") == "lost":
            kind = LOST if LOST_REASON in str(record.get("error")) else OTHER
            restart.fail(kind, f"dead run marked lost: {_describe(record)}")
        elif record.get("status") not in TERMINAL:
            status = record.get("status")
            restart.fail(STUCK, f"dead run still {status} after a sweep: {_describe(record)}")
        elif not (record.get("error") or record.get("terminalSummary")):
            restart.fail(OTHER, f"dead run ended {record.get('status')} without a reason")
        else:
            restart.notes.append(f"dead run ended {_describe(record)}")
    for record in records.values():
        if record["runId"] not in dead_ids and record.get("status") == "lost":
            restart.fail(LOST, f"a run after the restart marked lost: {_describe(record)}")

    progress("waiting for a run of job R started by gateway B")
    after = scenarios["run_after_restart"]
    try:
        done = _wait(
            "a run of R after the restart to end",
            lambda: [
                r
                for r in records_of(run, job_r)
                if r["runId"] not in dead_ids and r.get("status") in TERMINAL
            ],
            RUN_WAIT,
        )
    except GatewayFailed as exc:
        after.fail(OTHER, str(exc))
        return
    for record in done:
        if record.get("status") == "lost":
            after.fail(LOST, f"run after the restart marked lost: {_describe(record)}")
        elif record.get("status") != "succeeded":
            after.fail(OTHER, f"run after the restart ended otherwise: {_describe(record)}")
        else:
            after.notes.append(f"ended {_describe(record)}")


def _manual_run(run: GatewayRun, word: str, result: ScenarioResult, progress: Progress) -> None:
    run.model.hold(word)
    job_m = _add_job(run, "M", word, "24h")
    progress("manual run of job M held open; the clock moves past the grace")
    trigger = run.cli_background("cron", "run", job_m)
    try:
        running = _wait(
            "the manual run of M in flight",
            lambda: (
                run.model.holding(word)
                and [r for r in records_of(run, job_m) if r.get("status") == "running"]
            ),
            RUN_WAIT,
        )
        run.shift_clock(GRACE_PLUS_MS)
        time.sleep(SWEEP_WAIT)  # at least one sweep sees it past the grace
        records = {r["runId"]: r for r in records_of(run, job_m)}
        ended_itself = set()
        for record in running:
            now = records.get(record["runId"], {})
            if now.get("status") == "lost":
                result.fail(LOST, f"live manual run marked lost: {_describe(now)}")
            elif now.get("status") in TERMINAL and (now.get("error") or now.get("terminalSummary")):
                # 2026.7.x aborts an agent turn whose stream looks idle once the clock has
                # jumped: the run's own outcome, with its reason, not the sweeper's verdict.
                ended_itself.add(now["runId"])
                result.notes.append(f"ended by the release itself while held: {_describe(now)}")
            elif now.get("status") != "running":
                result.fail(OTHER, f"live manual run ended while it ran: {_describe(now)}")
        run.model.release(word)
        ended = _wait(
            "the manual run of M to end",
            lambda: [
                r
                for r in records_of(run, job_m)
                if r["runId"] in {x["runId"] for x in running} and r.get("status") in TERMINAL
            ],
            RUN_WAIT,
        )
        for record in ended:
            if record.get("status") == "succeeded":
                result.notes.append(f"ended {_describe(record)}")
            elif record.get("status") == "lost" and not result.failures:
                result.fail(LOST, f"manual run marked lost: {_describe(record)}")
            elif record["runId"] not in ended_itself and not result.failures:
                result.fail(OTHER, f"manual run did not end by its outcome: {_describe(record)}")
    finally:
        run.model.release(word)
        if trigger.poll() is None:
            trigger.kill()
        trigger.wait(timeout=30)


def _keeps_working(run: GatewayRun, result: ScenarioResult) -> None:
    if not run.healthy():
        result.fail(OTHER, "/health does not answer ok within 30 s")
    for args in (("--version",), ("cron", "list", "--json"), ("tasks", "list", "--json")):
        done = run.cli(*args, check=False)
        if done.returncode != 0:
            result.fail(OTHER, f"openclaw {' '.join(args)} exited {done.returncode}")


def side_from_json(data: dict[str, Any]) -> SideResult:
    """A side sent back as JSON by the isolated child that ran it."""
    scenarios = {}
    for name, item in data["scenarios"].items():
        kinds = item.get("failure_kinds") or [OTHER] * len(item["failures"])
        scenarios[name] = ScenarioResult(
            name,
            failures=list(zip(kinds, item["failures"], strict=True)),
            records=item.get("records", []),
            notes=item.get("notes", []),
        )
    return SideResult(scenarios, data.get("seconds", 0.0), data.get("node", ""))
