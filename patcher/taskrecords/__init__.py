"""OpenClaw's task registry (user data): the cron records #79196 already marked lost, and
their repair from durable evidence of each run's real outcome."""
