function __patcher_withActiveJobIds(store) {
	const ids = (store.jobs ?? []).filter((job) => typeof job?.state?.runningAtMs === "number").map((job) => job.id);
	return { ...store, activeJobIds: [...new Set(ids)] };
}
