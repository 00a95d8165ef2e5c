async function finishPreparedManualRun(state, prepared, mode) {
	__patcher_markCronJobActive(prepared.jobId);
	try {
		return await __patcher_finishPreparedManualRun(state, prepared, mode);
	} finally {
		__patcher_clearCronJobActive(prepared.jobId);
	}
}
