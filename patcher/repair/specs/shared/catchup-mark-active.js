async function runStartupCatchupCandidate(state, candidate) {
	__patcher_markCronJobActive(candidate.job.id);
	try {
		return await __patcher_runStartupCatchupCandidate(state, candidate);
	} finally {
		__patcher_clearCronJobActive(candidate.job.id);
	}
}
