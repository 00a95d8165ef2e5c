function loadCronJobsStoreSync(storePath) {
	const store = __patcher_loadCronJobsStoreSync(storePath);
	const ids = __patcher_readActiveJobIds(openOpenClawStateDatabase().db, cronStoreKey(path.resolve(storePath)));
	return ids ? { ...store, activeJobIds: ids } : store;
}
