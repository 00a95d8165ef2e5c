"""What a store migration did: shared by the JSON and the SQLite store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MigrationOutcome = Literal["migrated", "would-migrate", "already-migrated", "nothing-to-migrate"]


@dataclass
class Migration:
    """What `store migrate` did, or would do with --dry-run."""

    path: Path | None
    outcome: MigrationOutcome
    active_job_ids: list[str]
    backup: Path | None = None
    rewritten_from_json5: bool = False
    kind: str = "none"
    # The real folder written, when the state dir or cron/ is reached through a symlink.
    through_link: Path | None = None

    def envelope(self) -> dict[str, Any]:
        return {"schema": "openclaw-patcher/store-migrate/1", **self.to_json()}

    def to_json(self) -> dict[str, Any]:
        return {
            "real_folder": str(self.through_link) if self.through_link else None,
            "file": str(self.path) if self.path else None,
            "outcome": self.outcome,
            "kind": self.kind,
            "activeJobIds": self.active_job_ids,
            "backup": str(self.backup) if self.backup else None,
            "rewritten_from_json5": self.rewritten_from_json5,
        }
