"""What each release holds (tests/data/releases.json): the reader that takes the facts off
a release, and a comparison of them with `detect`.

Per release: its family, store shape, engines.node and the dist files of each role
(primaries and worker copies together; the store list of 2026.3.x is cut short, marked
truncated). docs/release-families.md says what they mean; scripts/read_release_facts.py
reads them off every release.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

from patcher.cache.releases import list_versions, stable_versions
from patcher.versions import parse_version

FACTS = Path(__file__).parent / "data" / "releases.json"
ROLES = ("active-jobs", "cron-service", "sweeper", "cron-store")
STATUS_OF = {
    "not-affected": "not-affected",
    "affected-json": "affected",
    "affected-json-recovery": "affected",
    "affected-sqlite": "affected",
    "fixed-upstream": "fixed-upstream",
}


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the scripts that walk the stable releases: which ones, how many
    fetched at once, which cache."""
    parser.add_argument("--from", dest="first", default="2026.3.1")
    parser.add_argument("--to", dest="last", default="2026.9.6")
    parser.add_argument("--jobs", type=int, default=4, help="parallel fetches")
    parser.add_argument("--cache-dir")


def stable_in_range(args: argparse.Namespace) -> list[str]:
    """The published stable releases from `--from` to `--to`, both included, in order."""
    first, last = parse_version(args.first), parse_version(args.last)
    return [v for v in stable_versions(list_versions()) if first <= parse_version(v) <= last]


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


# Reading the facts off a release (scripts/read_release_facts.py), by plain byte search and
# without `detect`: detect is what the facts check, so they must not come from it.


def _definition(name: str) -> re.Pattern[bytes]:
    """`function NAME(` as a statement: at a line start or after `;`, `{`, `}`, `)` or `,`
    (minified bundles put many on one line), not inside a string."""
    return re.compile(
        rb"(?m)(?:^|[;{}),])[ \t]*(?:export[ \t]+)?(?:async[ \t]+)?function[ \t]+"
        + re.escape(name.encode())
        + rb"\("
    )


_DEF_ACTIVE = _definition("markCronJobActive")
_CALL_ACTIVE = re.compile(rb"(?<![\w$'\"`])markCronJobActive\(")
_DEF_SWEEPER = _definition("hasBackingSession")
_DEF_STORE = _definition("loadCronStore")
_DEF_SQLITE_LOADER = _definition("loadCronJobsStore")
_DEF_DURABLE_RECOVERY = _definition("resolveDurableCronTaskRecovery")
_CRON_JOBS_TABLE = re.compile(rb"""["'`][^"'`\n]*\bcron_jobs\b""")
_STATE_FILE = re.compile(rb"""-state\.json["'`]""")
_STARTUP_REPAIR = b"startup-run-repair"
_RUN_ID_BY_RESERVATION = re.compile(rb"runIdStartedAt:\s*[\w$.]*reservedAtMs\b")


def _chunks(dist: Path) -> list[Path]:
    paths = []
    for folder, _, names in os.walk(dist):
        paths.extend(Path(folder, n) for n in names if n.endswith((".js", ".mjs")))
    return sorted(paths)


def _calls_active(data: bytes) -> bool:
    """Whether `markCronJobActive(` is called: an occurrence that is not its definition and
    not in a line comment."""
    for match in _CALL_ACTIVE.finditer(data):
        line = data[data.rfind(b"\n", 0, match.start()) + 1 : match.start()]
        if not line.rstrip().endswith(b"function") and not line.lstrip().startswith(b"//"):
            return True
    return False


def read_facts(root: Path) -> dict[str, Any]:
    """The facts of the release extracted at `root` (its package folder)."""
    dist = root / "dist"
    files: dict[str, list[str]] = {role: [] for role in ROLES}
    markers: dict[str, bool] = dict.fromkeys(
        ("sqlite", "split", "startup_repair", "by_reservation", "durable_recovery"), False
    )
    for path in _chunks(dist):
        data = path.read_bytes()
        name = path.relative_to(dist).as_posix()
        if _DEF_ACTIVE.search(data):
            files["active-jobs"].append(name)
        if _calls_active(data):
            files["cron-service"].append(name)
            if _STARTUP_REPAIR in data:
                markers["startup_repair"] = True
                markers["by_reservation"] |= _RUN_ID_BY_RESERVATION.search(data) is not None
        if _DEF_SWEEPER.search(data):
            files["sweeper"].append(name)
            markers["durable_recovery"] |= _DEF_DURABLE_RECOVERY.search(data) is not None
        if _DEF_STORE.search(data):
            files["cron-store"].append(name)
            markers["sqlite"] |= bool(
                _DEF_SQLITE_LOADER.search(data) or _CRON_JOBS_TABLE.search(data)
            )
            markers["split"] |= _STATE_FILE.search(data) is not None
    store = "sqlite" if markers["sqlite"] else "json-split" if markers["split"] else "json"
    manifest = json.loads((root / "package.json").read_text())
    return {
        "family": _family(files, markers, store),
        "engines_node": (manifest.get("engines") or {}).get("node"),
        "store": store,
        "files": files,
        "cron_store_list_truncated": False,
    }


def _family(files: dict[str, list[str]], markers: dict[str, bool], store: str) -> str:
    if not files["active-jobs"]:
        return "not-affected"
    missing = [role for role in ROLES if not files[role]]
    if missing:
        return f"unknown (no {', '.join(missing)})"
    if markers["startup_repair"]:
        return "affected-recovery-key" if markers["by_reservation"] else "fixed-upstream"
    recovery = markers["durable_recovery"]
    if not recovery and store in ("json", "json-split"):
        return "affected-json"
    if recovery and store == "json-split":
        return "affected-json-recovery"
    if recovery and store == "sqlite":
        return "affected-sqlite"
    return f"unknown (store {store}, durable recovery {recovery})"


def differences(read: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """Every way the facts read differ from the recorded entry."""
    problems = [
        f"{key} {read[key]!r}, recorded {recorded.get(key)!r}"
        for key in ("family", "engines_node", "store")
        if read[key] != recorded.get(key)
    ]
    for role in ROLES:
        got, want = set(read["files"][role]), set(recorded["files"].get(role, []))
        partial = role == "cron-store" and recorded.get("cron_store_list_truncated")
        if (not want <= got) if partial else got != want:
            problems.append(f"{role}: read {sorted(got)}, recorded {sorted(want)}")
    return problems
