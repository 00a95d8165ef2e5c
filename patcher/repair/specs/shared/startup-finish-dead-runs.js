		__patcher_finishInterruptedRuns(state, __patcher_rehydrated);
