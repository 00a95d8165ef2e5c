"""What each release holds (tests/data/releases.json), and a comparison with `detect`.

The facts were read off the published tarballs: per release its family, store shape,
engines.node and the dist files of each role (primaries and worker copies together; the
store list of 2026.3.x is cut short, marked truncated). docs/release-families.md says
what they mean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FACTS = Path(__file__).parent / "data" / "releases.json"
STATUS_OF = {
    "not-affected": "not-affected",
    "affected-json": "affected",
    "affected-json-recovery": "affected",
    "affected-sqlite": "affected",
    "fixed-upstream": "fixed-upstream",
}


def load() -> dict[str, dict[str, Any]]:
    return json.loads(FACTS.read_text())["releases"]


def compare(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Every way a `detect --json` install entry differs from the release's facts."""
    problems = []
    if found["family"] != expected["family"]:
        problems.append(
            f"family {found['family']} (reason: {found['reason']}), expected {expected['family']}"
        )
    if found["status"] != STATUS_OF[expected["family"]]:
        problems.append(f"status {found['status']}, expected {STATUS_OF[expected['family']]}")
    if found["store"] != expected["store"]:
        problems.append(f"store {found['store']}, expected {expected['store']}")
    if found["engines_node"] != expected["engines_node"]:
        problems.append(
            f"engines.node {found['engines_node']}, expected {expected['engines_node']}"
        )
    for role, names in expected["files"].items():
        got = {p.removeprefix("dist/") for p in found["files"][role] + found["copies"][role]}
        want = set(names)
        truncated = role == "cron-store" and expected.get("cron_store_list_truncated")
        if (not want <= got) if truncated else got != want:
            problems.append(f"{role}: found {sorted(got)}, expected {sorted(want)}")
    return problems
