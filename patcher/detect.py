"""`detect`: find installs, map their bundles, and judge each one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patcher.bundles import BundleMap, map_bundles
from patcher.families import AFFECTED, Verdict, classify
from patcher.install import DiscoveryContext, Install, discover

DETECT_SCHEMA = "openclaw-patcher/detect/1"


@dataclass
class Detection:
    """One install, its bundle map and its verdict."""

    install: Install
    bundles: BundleMap
    verdict: Verdict

    @property
    def patch(self) -> str:
        # Patching arrives with the repair; until then an affected install is pristine.
        return "pristine" if self.verdict.status == AFFECTED else "n/a"

    def to_json(self) -> dict[str, Any]:
        root = self.install.root
        return {
            "root": str(root),
            "version": self.install.version,
            "status": self.verdict.status,
            "patch": self.patch,
            "family": self.verdict.family,
            "reason": self.verdict.reason,
            "store": self.verdict.store,
            "active_jobs_shape": self.verdict.active_jobs_shape,
            "engines_node": self.install.engines_node,
            "found_by": list(self.install.found_by),
            "files": self.bundles.files(root),
            "copies": self.bundles.copy_files(root),
            "notes": self.verdict.notes,
        }


def detect_install(install: Install, workers: int | None = None) -> Detection:
    """Map and judge one install."""
    bundles = map_bundles(install.dist, workers=workers)
    return Detection(install, bundles, classify(bundles, install.version))


def detect_installs(
    installs: list[Install] | None = None, ctx: DiscoveryContext | None = None
) -> list[Detection]:
    """Judge the given installs, or every install discovery finds."""
    if installs is None:
        installs = discover(ctx)
    return [detect_install(install) for install in installs]
