// openclaw/openclaw#79196: the ids of the runs in flight when the previous process died.
function __patcher_rehydrateActiveJobIds(state) {
	let store;
	try {
		store = __patcher_loadCronJobsStoreSync(state.deps.storePath);
	} catch (error) {
		state.deps.log.warn({ error }, "cron: could not read the active cron jobs of the previous process");
		return [];
	}
	const jobs = Array.isArray(store?.jobs) ? store.jobs : [];
	// The persisted ids, and the jobs whose runningAtMs is set: a store an unpatched gateway
	// wrote (or saved last) has no current row of ids.
	const persisted = Array.isArray(store?.activeJobIds) ? store.activeJobIds : [];
	const running = jobs.filter((job) => typeof job?.state?.runningAtMs === "number").map((job) => job?.id);
	const active = [...new Set([...persisted, ...running].filter((id) => typeof id === "string" && id.trim() !== ""))];
	for (const id of active) __patcher_markCronJobActive(id);
	return active;
}
