"""Proving the repair: verify, its scratch copies, and the one verdict rule."""
