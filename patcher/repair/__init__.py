"""The repair: patch specs, the plan, the journaled transaction, apply/status/rollback."""
