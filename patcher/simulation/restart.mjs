import { existsSync, renameSync, writeFileSync } from "node:fs";
import { makeCronService } from "./service.mjs";

// Scenario: the restart contract (docs/restart-contract.md) on the release's own code.
//
// Phase "a" (process A): the real CronService runs a recurring job R and a one-shot job O
// whose runners block; once both are inside their runner (task records created), it reports
// "ready" and the Python driver kills it with SIGKILL. It also adds M, for a manual run in B.
//
// Phase "b" (process B), on A's state dir with the clock past the 5-minute grace:
// configures task maintenance as the gateway does (runtimeAuthoritative), starts the real
// CronService without awaiting start(), and sweeps with the real maintenance: while start()
// is still running ("race"); while the catch-up run of R and a manual run of M block in
// their runners, after moving the clock past the grace again; and once they have ended.
// Each observation is the list of cron task records at that moment.
//
// Phase "c" (a third process, as `openclaw tasks maintenance --apply` is one): while B's
// runs are live and past the grace, B writes its clock to `otherProcess.window` and waits
// for `otherProcess.done`; meanwhile C, on the same state dir at B's time, runs the
// release's own maintenance as a CLI does (no cron service, no runtimeAuthoritative) and
// reports the records as it left them.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// How far past the grace each move of the clock goes: from the Python side (restart.py
// GRACE_PLUS_MS), which also starts process B's clock that far ahead.

function cronRecords(symbols) {
  symbols.ensureTaskRegistryReady?.();
  return symbols
    .listTaskRecords()
    .filter((task) => task.runtime === "cron")
    .map((task) => ({
      taskId: task.taskId,
      runId: task.runId ?? null,
      jobId: task.sourceId ?? null,
      status: task.status,
      error: task.error ?? null,
      summary: task.terminalSummary ?? null,
      startedAt: task.startedAt ?? null,
      endedAt: task.endedAt ?? null,
    }))
    .sort((a, b) => String(a.runId).localeCompare(String(b.runId)));
}

function blockingRunners(emit) {
  const live = new Map();
  const entered = new Map();
  const waiters = [];
  let blocking = true;
  const runner = async ({ job }) => {
    emit("running", { jobId: job.id });
    entered.set(job.id, (entered.get(job.id) ?? 0) + 1);
    for (const waiter of waiters.splice(0)) waiter();
    if (!blocking) return { status: "ok", summary: `finished ${job.id}` };
    return await new Promise((resolve) => live.set(job.id, resolve));
  };
  const waitFor = async (jobIds, timeoutMs) => {
    const ids = [jobIds].flat();
    const deadline = Date.now() + timeoutMs;
    while (!ids.some((id) => entered.get(id))) {
      if (Date.now() > deadline) return false;
      await Promise.race([new Promise((resolve) => waiters.push(resolve)), sleep(50)]);
    }
    return true;
  };
  const releaseAll = () => {
    blocking = false; // later runs (the timer re-fires) end at once
    for (const [jobId, resolve] of live) {
      live.delete(jobId);
      resolve({ status: "ok", summary: `finished ${jobId}` });
    }
  };
  return { runner, waitFor, releaseAll, entered };
}

async function phaseA({ symbols, config, emit }) {
  const runners = blockingRunners(emit);
  const cron = makeCronService(symbols.CronService, { storePath: config.storePath, runner: runners.runner });
  await cron.start();
  const now = Date.now();
  const agentTurn = (message) => ({ kind: "agentTurn", message });
  const base = { enabled: true, sessionTarget: "isolated", wakeMode: "now" };
  const recurring = await cron.add({ ...base, name: "recurring R", schedule: { kind: "every", everyMs: 1000, anchorMs: now }, payload: agentTurn("R") });
  const oneShot = await cron.add({ ...base, name: "one-shot O", deleteAfterRun: false, schedule: { kind: "at", at: new Date(now + 1000).toISOString() }, payload: agentTurn("O") });
  const manual = await cron.add({ ...base, name: "manual M", schedule: { kind: "every", everyMs: 86_400_000, anchorMs: now }, payload: agentTurn("M") });
  // Due five minutes from now: not running when A dies, overdue when B starts six minutes
  // later, so every release runs it as a startup catch-up (4.25+ skip interrupted jobs).
  const catchup = await cron.add({ ...base, name: "catch-up C", schedule: { kind: "every", everyMs: 300_000, anchorMs: now }, payload: agentTurn("C") });
  const ok = (await runners.waitFor(recurring.id, 30_000)) && (await runners.waitFor(oneShot.id, 30_000));
  if (!ok) throw new Error("process A: the cron timer did not start the jobs within 30 s");
  await sleep(50); // let the task registry finish its synchronous write of both records
  emit("ready", {
    jobs: { R: recurring.id, O: oneShot.id, M: manual.id, C: catchup.id },
    records: cronRecords(symbols),
  });
  await new Promise(() => {}); // wait for SIGKILL
}

async function phaseB({ symbols, config, emit }) {
  symbols.configureTaskRegistryMaintenance?.({
    cronStorePath: config.storePath,
    cronRuntimeAuthoritative: true,
    runtimeAuthoritative: true,
  });
  const jobs = config.jobs;
  const runners = blockingRunners(emit);
  const cron = makeCronService(symbols.CronService, { storePath: config.storePath, runner: runners.runner });
  const observations = [];
  const observe = (label, sweep) => {
    observations.push({ label, sweep, records: cronRecords(symbols) });
  };
  const sweep = async (label) => {
    const result = await symbols.runTaskRegistryMaintenance();
    observe(label, result ?? null);
  };
  let startError = null;
  const started = cron.start().catch((error) => {
    startError = String(error?.stack ?? error);
  });

  // The startup race: while start() is still running (its catch-up run of R blocks), or at
  // the latest right after it resolved, sweep once; the dead runs are past the grace.
  let finished = false;
  await Promise.race([
    runners.waitFor([jobs.R, jobs.C], 10_000), // catch-up runs run one at a time
    started.then(() => {
      finished = true;
    }),
  ]);
  await sweep(finished ? "race-after-start" : "race");
  // A catch-up run of R happens inside start(): once start() has resolved without one,
  // none is coming (4.25+ skip interrupted jobs), so do not wait for it.
  const catchup = finished && !runners.entered.has(jobs.R) ? false : await runners.waitFor(jobs.R, 2_000);
  const manualRun = cron.run(jobs.M, "force").catch((error) => ({ error: String(error) }));
  const manual = await runners.waitFor(jobs.M, 10_000);
  observe("live", null);
  globalThis.__patcherClock.advance(config.gracePlusMs);
  const otherProcess = config.otherProcess ? await otherProcessSweep(config.otherProcess) : null;
  await sweep("live-past-grace");
  runners.releaseAll();
  await Promise.race([started, sleep(10_000)]);
  const manualResult = await Promise.race([manualRun, sleep(10_000)]);
  cron.stop(); // no new timer runs; the ones in flight end at once now
  await sleep(300);
  globalThis.__patcherClock.advance(config.gracePlusMs);
  await sweep("final");
  return {
    observations,
    startError,
    catchup,
    manual,
    manualResult: manualResult ?? null,
    replayedOneShot: runners.entered.has(jobs.O),
    otherProcess,
  };
}

// Hand the moment to process C (driven from Python) and wait until it has swept.
async function otherProcessSweep({ window, done, timeoutMs }) {
  // Whole or not at all: C reads the file as soon as it exists.
  writeFileSync(`${window}.tmp`, JSON.stringify({ now: Date.now() }));
  renameSync(`${window}.tmp`, window);
  const deadline = performance.now() + timeoutMs;
  while (!existsSync(done)) {
    if (performance.now() > deadline) return { timedOut: true };
    await sleep(50);
  }
  return { timedOut: false };
}

async function phaseC({ symbols }) {
  const sweep = await symbols.runTaskRegistryMaintenance();
  return { sweep: sweep ?? null, records: cronRecords(symbols) };
}

export async function main(context) {
  // "list": the release's own task-registry reader, nothing else (what `openclaw tasks
  // list` shows), for checks of what another tool wrote into the registry.
  const list = async ({ symbols }) => ({ records: cronRecords(symbols) });
  const phases = { a: phaseA, b: phaseB, c: phaseC, list };
  return await phases[context.config.phase](context);
}
