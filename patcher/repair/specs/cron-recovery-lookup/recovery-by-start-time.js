// A run's record is keyed by the time its run was reserved, but the store's running marker
// is the time it started: when the key finds no record, take this job's record (this store's)
// that started at that time, the live one before a finished one, the newest first.
function findLatestCronTaskRunForRecovery(jobId, reservationAt, storeKey) {
	const found = __patcher_findLatestCronTaskRunForRecovery(jobId, reservationAt, storeKey);
	if (found) return found;
	return listTaskRecordsUnsorted().filter((task) => task.runtime === "cron" && task.sourceId === jobId && task.startedAt === reservationAt && cronTaskRecordStoreKey(task) === storeKey).toSorted((left, right) => Number(left.endedAt !== void 0) - Number(right.endedAt !== void 0) || right.createdAt - left.createdAt || right.taskId.localeCompare(left.taskId))[0];
}
