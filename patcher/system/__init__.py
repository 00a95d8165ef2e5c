"""The processes around the tool: which run an install's code, and the tool's own command line."""
