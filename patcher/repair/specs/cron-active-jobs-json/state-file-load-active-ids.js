async function loadStateFile(statePath) {
	const file = await __patcher_loadStateFile(statePath);
	if (file) {
		try {
			const raw = JSON.parse(process.getBuiltinModule("node:fs").readFileSync(statePath, "utf-8"));
			if (Array.isArray(raw?.activeJobIds)) file.activeJobIds = raw.activeJobIds.filter((id) => typeof id === "string" && id.trim() !== "");
		} catch {}
	}
	return file;
}
