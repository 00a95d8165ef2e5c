// Scenario: load an existing store with the release's own CronService (as the gateway does
// at start) and report what it sees. Used to check that a migrated store still loads.
const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

export async function main({ symbols, config }) {
  const cron = new symbols.CronService({
    storePath: config.storePath,
    cronEnabled: false,
    cronConfig: {},
    defaultAgentId: "main",
    log: silent,
    enqueueSystemEvent() {},
    requestHeartbeatNow() {},
    runHeartbeatOnce: async () => ({ status: "ran", durationMs: 1 }),
    runIsolatedAgentJob: async () => ({ status: "ok" }),
    onEvent() {},
  });
  await cron.start();
  const jobs = await cron.list({ includeDisabled: true });
  cron.stop();
  return { ids: jobs.map((job) => job.id).sort() };
}
