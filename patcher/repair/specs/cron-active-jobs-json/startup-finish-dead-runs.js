		// openclaw-patcher cron-active-jobs-json/startup-finish-dead-runs
		__patcher_finishInterruptedRuns(state, __patcher_rehydrated);
