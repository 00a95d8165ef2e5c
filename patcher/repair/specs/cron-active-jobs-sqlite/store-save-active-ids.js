function replaceCronRows(db, storeKey, store) {
	const result = __patcher_replaceCronRows(db, storeKey, store);
	__patcher_saveActiveJobIds(db, storeKey, store);
	return result;
}
