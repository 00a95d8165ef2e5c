	store = __patcher_withActiveJobIds(store);
