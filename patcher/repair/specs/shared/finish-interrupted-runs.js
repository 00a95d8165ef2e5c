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
