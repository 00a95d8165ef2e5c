import { makeCronService } from "./service.mjs";

// Scenario: load an existing store with the release's own CronService (as the gateway does
// at start) and report what it sees. Used to check that a migrated store still loads.

export async function main({ symbols, config }) {
  const cron = makeCronService(symbols.CronService, { storePath: config.storePath, cronEnabled: false });
  await cron.start();
  const jobs = await cron.list({ includeDisabled: true });
  cron.stop();
  return { ids: jobs.map((job) => job.id).sort() };
}
