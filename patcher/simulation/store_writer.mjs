// Scenario: let the release's own CronService add jobs of every schedule and payload kind,
// run them (ok, error, and one snapshot taken while a run is in flight), and write its store.
// The Python side validates every file this leaves behind against schemas/. From 2026.6.1
// the store is the state database: a snapshot is a consistent copy (VACUUM INTO).
import { cpSync, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { makeCronService } from "./service.mjs";


export async function main({ symbols, config }) {
  const { CronService } = symbols;
  const storePath = config.storePath;
  const snapshots = config.snapshotDir;
  mkdirSync(snapshots, { recursive: true });
  let snapshotCount = 0;
  const snapshot = (label) => {
    snapshotCount += 1;
    const dir = path.join(snapshots, `${String(snapshotCount).padStart(2, "0")}-${label}`);
    mkdirSync(dir, { recursive: true });
    for (const file of [storePath, storePath.replace(/\.json$/, "-state.json")]) {
      if (existsSync(file)) cpSync(file, path.join(dir, path.basename(file)));
    }
    const database = path.join(process.env.OPENCLAW_STATE_DIR ?? "", "state", "openclaw.sqlite");
    if (process.env.OPENCLAW_STATE_DIR && existsSync(database)) {
      mkdirSync(path.join(dir, "state"));
      const { DatabaseSync } = process.getBuiltinModule("node:sqlite");
      const db = new DatabaseSync(database, { readOnly: true });
      try {
        db.exec(`VACUUM INTO '${path.join(dir, "state", "openclaw.sqlite").replaceAll("'", "''")}'`);
      } finally {
        db.close();
      }
    }
  };
  let failNext = false;
  const runner = async ({ job }) => {
    snapshot(`running-${job.id}`);
    if (failNext) {
      failNext = false;
      return { status: "error", error: "synthetic failure", summary: "failed on purpose" };
    }
    return { status: "ok", summary: `ran ${job.name}` };
  };
  const cron = makeCronService(CronService, { storePath, runner, cronEnabled: false });
  await cron.start();
  const now = Date.now();
  const inputs = [
    { name: "every agent turn", schedule: { kind: "every", everyMs: 600000 }, sessionTarget: "isolated", wakeMode: "now", payload: { kind: "agentTurn", message: "summarise", timeoutSeconds: 60 } },
    { name: "cron system event", schedule: { kind: "cron", expr: "0 7 * * 1-5", tz: "UTC" }, sessionTarget: "main", wakeMode: "next-heartbeat", payload: { kind: "systemEvent", text: "morning" } },
    { name: "at agent turn", schedule: { kind: "at", at: new Date(now + 3600000).toISOString() }, sessionTarget: "isolated", wakeMode: "now", deleteAfterRun: false, payload: { kind: "agentTurn", message: "remind" }, delivery: { mode: "none" } },
    { name: "every system event", description: "with failure alert", schedule: { kind: "every", everyMs: 3600000, anchorMs: now }, sessionTarget: "main", wakeMode: "now", payload: { kind: "systemEvent", text: "tick" }, failureAlert: { after: 2, cooldownMs: 60000 } },
    { name: "cron agent turn", schedule: { kind: "cron", expr: "*/30 * * * *" }, sessionTarget: "isolated", wakeMode: "now", payload: { kind: "agentTurn", message: "check", model: "provider/model" }, delivery: { mode: "announce", channel: "telegram", to: "123", bestEffort: true } },
  ];
  const added = [];
  for (const input of inputs) added.push(await cron.add({ enabled: true, ...input }));
  snapshot("added");
  const outcomes = [];
  for (const [index, job] of added.entries()) {
    if (job.payload.kind !== "agentTurn" || job.sessionTarget !== "isolated") continue;
    failNext = index === 2;
    outcomes.push({ id: job.id, result: await cron.run(job.id, "force") });
  }
  snapshot("after-runs");
  cron.stop();
  return { jobs: added.map((j) => ({ id: j.id, schedule: j.schedule.kind, payload: j.payload.kind })), outcomes, snapshots: snapshotCount };
}
