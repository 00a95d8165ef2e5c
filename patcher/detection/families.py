"""Release families (docs/release-families.md) and the verdict on one install.

The verdict comes from the code found; the version only cross-checks it. A re-published or
unknown version is judged by its code, and a version whose code does not look like its
family is reported with a note, so a surprise never passes silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import Version

from patcher.detection.roles import ROLES, BundleMap
from patcher.versions import parse_version

AFFECTED = "affected"
FIXED_UPSTREAM = "fixed-upstream"
NOT_AFFECTED = "not-affected"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Family:
    id: str
    status: str
    first: str  # first release of the family (inclusive)
    last: str  # last known release of the family (inclusive)
    summary: str


FAMILIES: tuple[Family, ...] = (
    Family(
        "not-affected",
        NOT_AFFECTED,
        "2026.3.1",
        "2026.4.2",
        "no cron branch in the sweeper: cron tasks are never marked lost",
    ),
    Family(
        "affected-json",
        AFFECTED,
        "2026.4.5",
        "2026.4.24",
        "as openclaw/openclaw#79196: the dead run's record ends lost (JSON store)",
    ),
    Family(
        "affected-json-recovery",
        AFFECTED,
        "2026.4.25",
        "2026.5.28",
        "partial upstream recovery: the dead run's record stays running (JSON store)",
    ),
    Family(
        "affected-sqlite",
        AFFECTED,
        "2026.6.1",
        "2026.7.35",
        "partial recovery: the dead run's record ends lost (SQLite store)",
    ),
    Family(
        "affected-recovery-key",
        AFFECTED,
        "2026.7.2-beta.3",
        "2026.7.2-beta.4",
        "startup run repair looks the dead run's record up by its start time, but the record "
        "is keyed by its reservation time: a second record is failed, the real one ends lost",
    ),
    Family(
        "fixed-upstream",
        FIXED_UPSTREAM,
        "2026.8.1",
        "2026.9.6",
        "startup run repair finalizes the exact run; nothing to patch",
    ),
)
_BY_ID = {f.id: f for f in FAMILIES}


def family_for_version(version: str) -> Family | None:
    """The family a version belongs to by number, when it lies in a known range."""
    parsed = parse_version(version)
    if parsed is None:
        return None
    base = Version(parsed.base_version)
    # A family bounded by pre-releases (a few betas of one release) is matched on the whole
    # version, and before the wide families its base version falls in.
    for fam in FAMILIES:
        first, last = Version(fam.first), Version(fam.last)
        if (first.is_prerelease or last.is_prerelease) and first <= parsed <= last:
            return fam
    for fam in FAMILIES:
        if Version(fam.first) <= base <= Version(fam.last):
            return fam
    # Before the first tracked family there was no sweeper at all; after the last, unknown.
    if base < Version(FAMILIES[0].first):
        return _BY_ID["not-affected"]
    return None


@dataclass
class Verdict:
    """What `detect` says about one install."""

    status: str
    family: str | None
    reason: str | None = None
    store: str | None = None
    active_jobs_shape: str | None = None
    notes: list[str] = field(default_factory=list)


def _unknown(reason: str, bundle_map: BundleMap) -> Verdict:
    return Verdict(UNKNOWN, None, reason, store=_store_kind(bundle_map))


def _store_kind(bundle_map: BundleMap) -> str | None:
    kinds = sorted({h.facts.get("store") for h in bundle_map.primaries("cron-store")} - {None})
    return kinds[0] if len(kinds) == 1 else None


def _family_from_code(bm: BundleMap) -> Verdict:
    """Judge the family from the roles found; never from file names or the version."""
    counts = {role: len(bm.primaries(role)) for role in ROLES}
    sweeper = bm.facts("sweeper")
    store = _store_kind(bm)

    if counts["active-jobs"] == 0 and counts["cron-service"] == 0:
        if counts["cron-store"] == 0 and counts["sweeper"] == 0:
            return _unknown("no OpenClaw cron code was found in dist/ (no role matched)", bm)
        if counts["sweeper"] > 1:
            return _unknown(
                f"the sweeper (hasBackingSession) was found {counts['sweeper']} times", bm
            )
        if sweeper.get("cron_branch"):
            return _unknown("the sweeper has a cron branch but no active-jobs module was found", bm)
        return Verdict(NOT_AFFECTED, "not-affected", store=store)

    for role in ("active-jobs", "sweeper", "cron-service", "cron-store"):
        if counts[role] == 0:
            return _unknown(f"the {role} role was not found in dist/", bm)
        if counts[role] > 1:
            files = ", ".join(h.path.name for h in bm.primaries(role))
            return _unknown(f"the {role} role was found {counts[role]} times ({files})", bm)

    shape = bm.facts("active-jobs").get("shape")
    service = bm.facts("cron-service")
    if service.get("recovery_keyed_by_reservation"):
        return Verdict(AFFECTED, "affected-recovery-key", store=store, active_jobs_shape=shape)
    if service.get("startup_run_repair"):
        return Verdict(FIXED_UPSTREAM, "fixed-upstream", store=store, active_jobs_shape=shape)
    if not sweeper.get("cron_branch"):
        return _unknown("the sweeper has no cron branch although active-jobs exists", bm)
    recovery = sweeper.get("durable_recovery")
    if not recovery and store in ("json", "json-split"):
        family = "affected-json"
    elif recovery and store == "json-split":
        family = "affected-json-recovery"
    elif recovery and store == "sqlite":
        family = "affected-sqlite"
    else:
        return _unknown(
            f"a code shape no spec knows (store {store}, durable recovery {bool(recovery)})", bm
        )
    return Verdict(AFFECTED, family, store=store, active_jobs_shape=shape)


def classify(bundle_map: BundleMap, version: str) -> Verdict:
    """The verdict for an install: the family its code shows, cross-checked with its version."""
    verdict = _family_from_code(bundle_map)
    expected = family_for_version(version)
    if parse_version(version) is None:
        verdict.notes.append(f"version {version!r} is not a release number; judged by code only")
    elif expected is None:
        verdict.notes.append(f"version {version} is outside the known releases; judged by code")
    elif verdict.family is not None and verdict.family != expected.id:
        verdict.notes.append(
            f"the code looks like family {verdict.family} but version {version} belongs to "
            f"{expected.id}; judged by the code"
        )
    return verdict
