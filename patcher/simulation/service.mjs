// The CronService the way the gateway builds it, with everything outside cron stubbed:
// a silent logger, no heartbeat, no channels; `runner` plays runIsolatedAgentJob.
// The deps object is a superset across releases (requestHeartbeatNow became
// requestHeartbeat; later releases add fields and ignore the ones they do not know).
export const silentLog = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLog;
  },
};

export function makeCronService(CronService, { storePath, runner, cronEnabled = true }) {
  return new CronService({
    storePath,
    cronEnabled,
    cronConfig: { maxConcurrentRuns: 4 },
    defaultAgentId: "main",
    log: silentLog,
    enqueueSystemEvent() {
      return true;
    },
    requestHeartbeatNow() {},
    requestHeartbeat() {},
    runHeartbeatOnce: async () => ({ status: "ran", durationMs: 1 }),
    runIsolatedAgentJob: runner ?? (async () => ({ status: "ok" })),
    onEvent() {},
  });
}
