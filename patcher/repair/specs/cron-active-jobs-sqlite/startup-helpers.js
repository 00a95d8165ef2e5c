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
// Finish the task records of the runs that died with the previous process, truthfully,
// then clear their ids: re-marking them alone would leave the records running forever.
function __patcher_finishInterruptedRuns(state, jobIds) {
	if (jobIds.length === 0) return;
	const now = state.deps.nowMs();
	const ids = new Set(jobIds);
	for (const task of __patcher_listTaskRecords()) {
		if (task.runtime !== "cron" || !ids.has(task.sourceId) || (task.status !== "running" && task.status !== "queued")) continue;
		try {
			__patcher_failTaskRunByRunId({ runId: task.runId, runtime: "cron", status: "failed", endedAt: now, lastEventAt: now, error: "interrupted by gateway restart" });
		} catch (error) {
			state.deps.log.warn({ runId: task.runId, error }, "cron: failed to finish an interrupted task run");
		}
	}
	for (const id of jobIds) __patcher_clearCronJobActive(id);
}
