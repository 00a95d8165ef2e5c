	// openclaw-patcher cron-active-jobs-sqlite/startup-rehydrate
	const __patcher_rehydrated = state.deps.cronEnabled ? __patcher_rehydrateActiveJobIds(state) : [];
