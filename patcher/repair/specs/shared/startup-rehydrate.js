	const __patcher_rehydrated = state.deps.cronEnabled ? __patcher_rehydrateActiveJobIds(state) : [];
