"""Map the roles of OpenClaw's cron code to the dist files that hold them, by content.

Bundle file names are content hashes and export letters change every few releases, so a
file's role is read from what it contains: the rolldown region markers
(`//#region src/cron/active-jobs.ts`) and function names, which survive bundling. A byte
prefilter (`patcher.detection.scan`) picks the few candidate files; each candidate is then checked
structurally with ast-grep, on the region (or, in minified bundles without regions, the
window) around each hit only, so a 50 MB worker bundle costs milliseconds, not seconds.

Roles (see docs/release-families.md):
- active-jobs: `markCronJobActive` and friends, the in-memory Set or marker map;
- sweeper: `hasBackingSession`, task-registry maintenance;
- cron-service: the callers of `markCronJobActive(` (timer, manual and catch-up runs);
- cron-store: `//#region src/cron/store.ts` (`loadCronStore` / `saveCronStore`).

A hit in a chunk with region markers is a *primary*; a hit in a minified all-in-one bundle
without markers (`dist/worker/*.mjs` from 2026.8.1), or in a bundle with markers that no
module imports while another file with the same role is imported (2026.8.1-beta.3's
worker.mjs), is a *copy* of code a chunk already has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from patcher.detection.imports import imported
from patcher.detection.scan import scan
from patcher.errors import RefusedError
from patcher.files.reading import NotReadable, read_regular

ROLES = ("active-jobs", "sweeper", "cron-service", "cron-store")
# The first line of every snippet a patch spec inserts: how patched code is recognised.
MARKER_PREFIX = "// openclaw-patcher "


class ShapeError(RefusedError):
    """The code does not have the shape this tool knows (a name missing or defined twice)."""


NEEDLES = (b"CronJobActive", b"hasBackingSession", b"src/cron/store.ts", MARKER_PREFIX.encode())

REGION_START = b"//#region "
REGION_END = b"//#endregion"
_DEF_MARK = b"function markCronJobActive("
_DEF_SWEEP = b"function hasBackingSession("
_CALL_MARK = b"markCronJobActive("
_STORE_REGION = b"//#region src/cron/store.ts"
_REPAIR_REGION = b"//#region src/cron/service/startup-run-repair.ts"
_DURABLE_RECOVERY = b"function resolveDurableCronTaskRecovery("
# 2026.7.2-beta.3/4: a run's task record is keyed by the time its run was reserved, and the
# reservation is its own marker (state.queuedAtMs), while the store's running marker is the
# time the run started, which start()'s run repair looks the record up by.
_RUN_ID_BY_RESERVATION = re.compile(rb"runIdStartedAt:\s*[\w$.]*reservedAtMs\b")
_QUEUED_MARKER = re.compile(rb"\.state\.queuedAtMs\s*=[^=]")
_IDENT = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$.")
# Windows parsed around a hit in a minified bundle: enough for the functions checked here.
_DEF_WINDOW = 24_000
_CALL_WINDOW = 3_000


@dataclass
class RoleHit:
    """One file that plays a role, with the facts the structural check read there."""

    role: str
    path: Path
    primary: bool
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class BundleMap:
    """What the dist of one install holds, role by role."""

    dist: Path
    hits: list[RoleHit] = field(default_factory=list)
    # Every file holding a marker of this tool's edits, a role's or not (the same scan).
    marked: list[Path] = field(default_factory=list)

    def primaries(self, role: str) -> list[RoleHit]:
        return [h for h in self.hits if h.role == role and h.primary]

    def copies(self, role: str) -> list[RoleHit]:
        return [h for h in self.hits if h.role == role and not h.primary]

    def facts(self, role: str) -> dict[str, Any]:
        """The facts of the role's single primary, or {} when there is not exactly one."""
        found = self.primaries(role)
        return found[0].facts if len(found) == 1 else {}

    def files(self, root: Path) -> dict[str, list[str]]:
        """Role -> primary files, relative to `root`, as reported by `detect`."""
        return {role: [_rel(h.path, root) for h in self.primaries(role)] for role in ROLES}

    def copy_files(self, root: Path) -> dict[str, list[str]]:
        return {role: [_rel(h.path, root) for h in self.copies(role)] for role in ROLES}


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@lru_cache(maxsize=1)
def _sg():
    # Imported on first use: the prefilter alone answers for dists without cron code.
    from ast_grep_py import SgRoot

    return SgRoot


def _parse(text: str):
    return _sg()(text, "javascript").root()


def _find_all(data: bytes, needle: bytes) -> Iterator[int]:
    index = data.find(needle)
    while index >= 0:
        yield index
        index = data.find(needle, index + 1)


def _region_at(data: bytes, index: int) -> tuple[int, int] | None:
    """The (start, end) of the `//#region` block holding `index`, if there is one."""
    start = data.rfind(REGION_START, 0, index + len(REGION_START))
    if start < 0:
        return None
    end = data.find(REGION_END, index)
    # A region that ended before the hit means the hit sits between regions.
    if end < 0 or data.rfind(REGION_END, start, index) >= 0:
        return None
    return start, end + len(REGION_END)


def _slice_for(data: bytes, index: int, has_regions: bool, before: int, after: int) -> str:
    """The text to parse for a hit: its region in a chunk, a window in a minified bundle."""
    span = _region_at(data, index) if has_regions else None
    if span is None:
        span = (max(0, index - before), index + after)
    return data[span[0] : span[1]].decode("utf-8", "replace")


def _function(root, name: str):
    return root.find(kind="function_declaration", has={"field": "name", "regex": f"^{name}$"})


def _has_function(root, name: str) -> bool:
    return _function(root, name) is not None


def _check_active_jobs(snippet: str) -> dict[str, Any] | None:
    root = _parse(snippet)
    if not (_has_function(root, "markCronJobActive") and _has_function(root, "isCronJobActive")):
        return None
    state = _function(root, "getCronActiveJobState")
    # 2026.6.8+ keeps per-run markers with a generation and a token beside (or instead of)
    # the plain Set of ids.
    markers = state is not None and state.find(kind="property_identifier", regex="^generation$")
    return {"shape": "markers" if markers else "set"}


def _check_sweeper(snippet: str) -> dict[str, Any] | None:
    root = _parse(snippet)
    fn = _function(root, "hasBackingSession")
    if fn is None:
        return None
    cron_branch = fn.find(pattern='$T.runtime === "cron"') is not None
    authoritative = (
        fn.find(kind="identifier", regex="RuntimeAuthoritative$") is not None
        or fn.find(kind="property_identifier", regex="RuntimeAuthoritative$") is not None
    )
    return {"cron_branch": cron_branch, "runtime_authoritative_gate": authoritative}


def _check_service(snippet: str) -> bool:
    root = _parse(snippet)
    return (
        root.find(kind="call_expression", has={"field": "function", "regex": "^markCronJobActive$"})
        is not None
    )


def _check_store(snippet: str) -> dict[str, Any] | None:
    root = _parse(snippet)
    if not _has_function(root, "loadCronStore"):
        return None
    # The SQLite era keeps the jobs in the state database's cron_jobs table; its first builds
    # (2026.5.30-beta.1) still call the loader loadCronStore, later ones loadCronJobsStore.
    if _has_function(root, "loadCronJobsStore") or root.find(
        kind="string_fragment", regex=r"(^|[^\w])cron_jobs([^\w]|$)"
    ):
        kind = "sqlite"
    elif root.find(kind="string_fragment", regex=r"-state\.json$") is not None:
        kind = "json-split"
    else:
        kind = "json"
    return {"store": kind}


def _file_hits(path: Path, needle_ids: list[int]) -> Iterator[RoleHit]:
    try:
        data = read_regular(path)
    except (OSError, NotReadable):  # removed or swapped since the prefilter read it
        return
    has_regions = REGION_START in data
    primary = has_regions

    if 0 in needle_ids:
        for index in _find_all(data, _DEF_MARK):
            snippet = _slice_for(data, index, has_regions, before=4_000, after=_DEF_WINDOW)
            facts = _check_active_jobs(snippet)
            if facts is not None:
                yield RoleHit("active-jobs", path, primary, facts)
                break
        seen: set[str] = set()
        for index in _find_all(data, _CALL_MARK):
            if (index and data[index - 1] in _IDENT) or data.endswith(b"function ", 0, index):
                continue  # another name ending in ...markCronJobActive, or the definition
            snippet = _slice_for(data, index, has_regions, _CALL_WINDOW, _CALL_WINDOW)
            if snippet in seen:
                continue
            seen.add(snippet)
            if _check_service(snippet):
                repair = _REPAIR_REGION in data
                facts = {
                    "startup_run_repair": repair,
                    "recovery_keyed_by_reservation": repair
                    and _RUN_ID_BY_RESERVATION.search(data) is not None
                    and _QUEUED_MARKER.search(data) is not None,
                }
                yield RoleHit("cron-service", path, primary, facts)
                break

    if 1 in needle_ids:
        for index in _find_all(data, _DEF_SWEEP):
            snippet = _slice_for(data, index, has_regions, before=0, after=_DEF_WINDOW)
            facts = _check_sweeper(snippet)
            if facts is not None:
                # Durable recovery (2026.4.25+) lives beside the sweeper in the same region.
                facts["durable_recovery"] = _DURABLE_RECOVERY.decode() in snippet
                yield RoleHit("sweeper", path, primary, facts)
                break

    if 2 in needle_ids and has_regions:
        index = data.find(_STORE_REGION)
        if index >= 0:
            facts = _check_store(_slice_for(data, index, True, 0, 0))
            if facts is not None:
                yield RoleHit("cron-store", path, True, facts)


def the_imported(dist: Path, paths: list[Path]) -> list[Path]:
    """Of several files holding the same code, the ones other files import, when that tells
    them apart: the rest are entry bundles with a copy (patcher.detection.imports)."""
    if len(paths) < 2:
        return paths
    kept = imported(dist, paths)
    return [p for p in paths if p in kept] if kept else paths


def map_bundles(dist: Path, workers: int | None = None) -> BundleMap:
    """Scan `dist` and return every role hit, primary chunks first, in path order."""
    bundle_map = BundleMap(dist=dist)
    for name, needle_ids in sorted(scan(dist, NEEDLES, workers).items()):
        if 3 in needle_ids:
            bundle_map.marked.append(Path(name))
        bundle_map.hits.extend(_file_hits(Path(name), needle_ids))
    for role in ROLES:
        primaries = [h.path for h in bundle_map.primaries(role)]
        kept = the_imported(dist, primaries)
        for hit in bundle_map.hits:
            if hit.role == role and hit.primary and hit.path not in kept:
                hit.primary = False  # a copy in a bundle no module imports
    bundle_map.hits.sort(key=lambda h: (not h.primary, ROLES.index(h.role), str(h.path)))
    return bundle_map


def _definition_needles(name: str) -> list[bytes]:
    return [
        f"function {name}(".encode(),
        f"var {name} = class".encode(),
        f"class {name} ".encode(),
        f"const {name} = ".encode(),
        f"let {name} = ".encode(),
    ]


def locate_definitions(
    dist: Path,
    names: Iterable[str],
    purpose: str = "openclaw-patcher",
    optional: Iterable[str] = (),
) -> dict[str, Path]:
    """The chunk that defines each name, by content; refuses a missing or ambiguous name.

    `optional` names are looked for in the same pass, and left out where no chunk defines
    them (a function later releases added, such as configureTaskRegistryMaintenance from
    2026.4.25)."""
    names = list(names)
    maybe = set(optional) - set(names)
    names += sorted(maybe)
    if not names:
        return {}
    needles: list[bytes] = []
    owner: list[str] = []
    for name in names:
        for needle in _definition_needles(name):
            needles.append(needle)
            owner.append(name)
    found: dict[str, list[Path]] = {name: [] for name in names}
    for path, hit_ids in scan(dist, needles).items():
        try:
            data = read_regular(path)
        except (OSError, NotReadable):  # removed or swapped since the prefilter read it
            continue
        if b"//#region " not in data:
            continue  # a minified all-in-one copy (dist/worker/), never the module we load
        for name in {owner[i] for i in hit_ids}:
            # A definition at the top level of a chunk starts a line.
            if any(
                re.search(rb"(?m)^(?:async )?" + re.escape(needles[i]), data)
                for i in hit_ids
                if owner[i] == name
            ):
                found[name].append(Path(path))
    result = {}
    for name, paths in found.items():
        if not paths and name in maybe:
            continue
        paths = the_imported(dist, paths)
        if len(paths) != 1:
            where = ", ".join(p.name for p in paths) or "no chunk"
            raise ShapeError(
                f"{purpose} needs {name} defined once in {dist}, found in {where}: "
                "this release's code shape is not supported."
            )
        result[name] = paths[0]
    return result


_EXPORT_CLAUSE = re.compile(rb"export\s*\{([^}]*)\}\s*;?\s*$")


def export_name(chunk: Path, name: str) -> str:
    """The name under which `chunk` exports the binding `name` (a minified letter, usually),
    read from its export clause; raises ShapeError when it does not export it."""
    try:
        data = read_regular(chunk)
    except (OSError, NotReadable) as exc:
        raise ShapeError(f"{chunk} cannot be read ({exc}): reinstall the release.") from exc
    match = _EXPORT_CLAUSE.search(data.rstrip())
    if match:
        for part in match.group(1).decode("utf-8", "replace").split(","):
            local, _, exported = part.strip().partition(" as ")
            if local.strip() == name:
                return (exported or local).strip()
    raise ShapeError(f"{chunk} does not export {name}: this release's code shape is not supported.")
