"""`detect` on real releases fetched with the npm CLI, against tests/data/releases.json.

CI runs one release of each family; `pytest -m release --all-releases` runs every stable
release 2026.3.1 – 2026.9.6 (scripts/detect_releases.py writes the same as a table).
"""

from __future__ import annotations

import json

import pytest
import release_facts
from click.testing import CliRunner

from patcher.cache.releases import fetch_release
from patcher.cli import main

pytestmark = pytest.mark.release


def test_detect_real_release(release_version, release_cache):
    expected = release_facts.load()[release_version]
    root = fetch_release(release_version, release_cache)
    result = CliRunner().invoke(main, ["detect", "--root", str(root), "--json"])
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.output)["installs"]
    assert found["version"] == release_version
    assert release_facts.compare(found, expected) == []
    if expected["family"].startswith("affected"):
        assert found["patch"] == "pristine"
