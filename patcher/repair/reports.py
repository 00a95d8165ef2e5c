"""What `detect`, `status`, `apply` and `rollback` found or did, each owning its exit code
and its versioned JSON envelope; the command line only renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from patcher.detection.detect import DETECT_SCHEMA, Detection
from patcher.detection.families import UNKNOWN
from patcher.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_REFUSED

PatchState = Literal["pristine", "applied", "drifted", "n/a"]
RepairOutcome = Literal[
    "applied", "already-applied", "not-applicable", "would-apply", "rolled-back", "not-patched"
]


@dataclass
class Outcome:
    """What apply or rollback did to one install."""

    root: Path
    version: str
    outcome: RepairOutcome
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "version": self.version,
            "outcome": self.outcome,
            "message": self.message,
            **self.details,
        }


@dataclass
class RepairReport:
    """apply or rollback over the installs asked for: exit 0 once each is done (failures
    are raised, with their own exit codes, before a report exists)."""

    command: Literal["apply", "rollback"]
    outcomes: list[Outcome]

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": f"openclaw-patcher/{self.command}/1",
            "installs": [o.to_json() for o in self.outcomes],
        }


@dataclass
class StatusRow:
    """One install's patch state, why, and what recovery did first (if anything)."""

    detection: Detection
    patch: PatchState
    message: str
    recovered: str | None = None

    def to_json(self) -> dict[str, Any]:
        install = self.detection.install
        return {
            "root": str(install.root),
            "version": install.version,
            "status": self.detection.verdict.status,
            "patch": self.patch,
            "message": self.message,
            "recovered": self.recovered,
        }


@dataclass
class StatusReport:
    """Exit 3 when an install drifted or its code shape is unknown, else 1 when one is
    affected and not patched, else 0."""

    rows: list[StatusRow]

    @property
    def exit_code(self) -> int:
        if any(r.patch == "drifted" or r.detection.verdict.status == UNKNOWN for r in self.rows):
            return EXIT_REFUSED
        if any(r.patch == "pristine" for r in self.rows):
            return EXIT_CHECK_FAILED
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {"schema": "openclaw-patcher/status/1", "installs": [r.to_json() for r in self.rows]}


@dataclass
class DetectReport:
    """Exit 1 when no install was found, 3 when one's code shape is unknown, else 0."""

    detections: list[Detection]
    patches: list[PatchState]

    @property
    def exit_code(self) -> int:
        if not self.detections:
            return EXIT_CHECK_FAILED
        if any(d.verdict.status == UNKNOWN for d in self.detections):
            return EXIT_REFUSED
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        installs = [
            d.to_json(patch) for d, patch in zip(self.detections, self.patches, strict=True)
        ]
        return {"schema": DETECT_SCHEMA, "installs": installs}
