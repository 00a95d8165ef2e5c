"""OpenClaw's cron store: where it lives, JSON and SQLite, validation and migration."""
