		if (Array.isArray(parsedRecord.activeJobIds)) store.activeJobIds = parsedRecord.activeJobIds.filter((id) => typeof id === "string" && id.trim() !== "");
