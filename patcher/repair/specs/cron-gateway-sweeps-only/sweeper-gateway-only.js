// Only the process whose cron service started knows which cron runs are live: elsewhere (a
// CLI's `tasks maintenance --apply`, `tasks audit`, `tasks list`) its set of active jobs is
// empty, so a cron record counts as backed there and only the gateway reconciles it, the
// rule upstream adopted in 2026.4.25.
function hasBackingSession(task) {
	if (task.runtime === "cron" && !globalThis[Symbol.for("openclaw-patcher.cron-service-started")]) return true;
	return __patcher_hasBackingSession(task);
}
