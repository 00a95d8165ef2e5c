"""Reading and writing files safely: atomic writes, bounded reads, locks, JSON as OpenClaw
writes it, JSON Schemas."""
