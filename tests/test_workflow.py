"""The GitHub workflow users copy is checked against the GitHub Actions workflow schema
(check-jsonschema's vendored copy of schemastore's), so a broken key fails here first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "openclaw-releases.yml"


def _checker() -> str:
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.is_file() else shutil.which("check-jsonschema")
    assert found, "the test extra installs check-jsonschema"
    return found


def test_the_workflow_is_a_valid_github_workflow():
    done = subprocess.run(
        [_checker(), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_workflow_fails_the_check(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs-onn:", 1))
    done = subprocess.run(
        [_checker(), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
