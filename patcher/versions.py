"""OpenClaw's version numbers, read as PEP 440 versions (packaging).

`2026.7.1-1` (a re-publish) reads as a post release, `2026.6.1-beta.1` as a pre-release
that sorts before `2026.6.1`. A version that reads as neither is None, never a crash.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def parse_version(version: str) -> Version | None:
    """OpenClaw's `2026.7.1-1` re-publishes parse as post releases, betas as pre-releases."""
    try:
        return Version(version)
    except InvalidVersion:
        return None
