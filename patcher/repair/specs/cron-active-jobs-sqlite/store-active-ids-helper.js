// openclaw/openclaw#79196: the ids of the cron jobs with a run in flight, persisted in the
// state database's plugin state table, one row per cron store. Every release from 2026.6.1
// on creates plugin_state_entries with the same schema and reads only its own plugins' rows.
const __patcher_ACTIVE_JOBS_PLUGIN = "openclaw-patcher";
const __patcher_ACTIVE_JOBS_NAMESPACE = "cron-active-jobs";
function __patcher_saveActiveJobIds(db, storeKey, store) {
	const ids = (store?.jobs ?? []).filter((job) => typeof job?.state?.runningAtMs === "number").map((job) => job.id);
	const value = JSON.stringify({ version: 1, activeJobIds: [...new Set(ids)] });
	db.prepare("INSERT INTO plugin_state_entries (plugin_id, namespace, entry_key, value_json, created_at, expires_at) VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (plugin_id, namespace, entry_key) DO UPDATE SET value_json = excluded.value_json").run(__patcher_ACTIVE_JOBS_PLUGIN, __patcher_ACTIVE_JOBS_NAMESPACE, storeKey, value, Date.now());
}
function __patcher_readActiveJobIds(db, storeKey) {
	try {
		const row = db.prepare("SELECT value_json FROM plugin_state_entries WHERE plugin_id = ? AND namespace = ? AND entry_key = ?").get(__patcher_ACTIVE_JOBS_PLUGIN, __patcher_ACTIVE_JOBS_NAMESPACE, storeKey);
		const value = row ? JSON.parse(row.value_json) : null;
		return Array.isArray(value?.activeJobIds) ? value.activeJobIds.filter((id) => typeof id === "string" && id.trim() !== "") : null;
	} catch {
		return null;
	}
}
