	globalThis[Symbol.for("openclaw-patcher.cron-service-started")] = true;
