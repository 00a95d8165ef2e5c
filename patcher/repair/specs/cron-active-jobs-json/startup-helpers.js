// openclaw/openclaw#79196: the ids of the runs in flight when the previous process died.
function __patcher_readJson(path) {
	try {
		return JSON.parse(process.getBuiltinModule("node:fs").readFileSync(path, "utf-8"));
	} catch {
		return null;
	}
}
function __patcher_rehydrateActiveJobIds(state) {
	const storePath = state.deps.storePath;
	const config = __patcher_readJson(storePath);
	// From 2026.4.20 runtime state (and so activeJobIds) lives in jobs-state.json.
	const stateFile = __patcher_readJson(storePath.endsWith(".json") ? storePath.replace(/\.json$/, "-state.json") : `${storePath}-state.json`);
	const jobs = Array.isArray(config?.jobs) ? config.jobs : [];
	const runtimeState = (job) => stateFile?.jobs?.[job?.id]?.state ?? job?.state;
	// A store written by an unpatched gateway has no activeJobIds: derive them.
	const ids = Array.isArray(stateFile?.activeJobIds) ? stateFile.activeJobIds : Array.isArray(config?.activeJobIds) ? config.activeJobIds : jobs.filter((job) => typeof runtimeState(job)?.runningAtMs === "number").map((job) => job?.id);
	const active = [...new Set(ids.filter((id) => typeof id === "string" && id.trim() !== ""))];
	for (const id of active) __patcher_markCronJobActive(id);
	return active;
}
