		// openclaw-patcher cron-active-jobs-sqlite/startup-finish-dead-runs
		__patcher_finishInterruptedRuns(state, __patcher_rehydrated);
