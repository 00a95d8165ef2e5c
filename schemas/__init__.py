"""JSON Schemas of openclaw-patcher, shipped as package data (patcher.schemas)."""
