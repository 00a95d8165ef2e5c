function updateCronRuntimeRows(db, storeKey, store) {
	const result = __patcher_updateCronRuntimeRows(db, storeKey, store);
	__patcher_saveActiveJobIds(db, storeKey, store);
	return result;
}
