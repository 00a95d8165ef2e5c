	// openclaw-patcher cron-active-jobs-json/store-save-active-ids
	store = __patcher_withActiveJobIds(store);
