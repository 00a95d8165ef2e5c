"""`detect`: find installs, map their bundles, and judge each one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patcher.detection.families import AFFECTED, Verdict, classify
from patcher.detection.install import DiscoveryContext, Install, discover
from patcher.detection.roles import BundleMap, map_bundles

DETECT_SCHEMA = "openclaw-patcher/detect/1"


@dataclass
class Detection:
    """One install, its bundle map and its verdict."""

    install: Install
    bundles: BundleMap
    verdict: Verdict

    @property
    def patch(self) -> str:
        """The patch state as the code alone says it, without a record (`pristine` for an
        affected install, `n/a` otherwise); patcher.repair.state reads the record."""
        return "pristine" if self.verdict.status == AFFECTED else "n/a"

    def to_json(self, patch: str | None = None) -> dict[str, Any]:
        root = self.install.root
        return {
            "root": str(root),
            "version": self.install.version,
            "status": self.verdict.status,
            "patch": patch or self.patch,
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
