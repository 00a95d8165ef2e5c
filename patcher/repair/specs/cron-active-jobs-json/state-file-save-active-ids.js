function extractStateFile(store) {
	const ids = (store.jobs ?? []).filter((job) => typeof job?.state?.runningAtMs === "number").map((job) => job.id);
	return { ...__patcher_extractStateFile(store), activeJobIds: [...new Set(ids)] };
}
