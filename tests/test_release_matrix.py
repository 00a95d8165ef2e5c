"""`matrix` end to end on two real releases: an affected one (2026.7.35, SQLite era) and a
fixed one (2026.8.1), in parallel; then the combined JUnit report of those rows."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from patcher.cli import main

pytestmark = pytest.mark.release


def test_matrix_over_two_releases(release_cache, tmp_path):
    rows_dir = tmp_path / "rows"
    rows_dir.mkdir()
    out = rows_dir / "rows.json"
    args = ["--cache-dir", str(release_cache), "matrix", "--jobs", "2"]
    result = CliRunner().invoke(
        main,
        [*args, "--versions", ">=2026.7.35,<=2026.8.1", "--format", "json", "--output", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "[2/2]" in result.stderr  # plain progress lines off a terminal
    rows = {r["version"]: r for r in json.loads(out.read_text())["releases"]}
    assert list(rows) == ["2026.7.35", "2026.8.1"]

    affected, fixed = rows["2026.7.35"], rows["2026.8.1"]
    assert affected["status"] == "affected" and affected["family"] == "affected-sqlite"
    assert affected["pristine"]["bug_reproduced"] is True
    assert affected["patched"]["ok"] is True and affected["rollback_identical"] is True
    assert fixed["status"] == "fixed-upstream" and fixed["pristine"]["bug_reproduced"] is False
    assert fixed["patched"] is None and fixed["rollback_identical"] is None
    assert all(r["ok"] and r["seconds"]["total"] > 0 for r in rows.values())

    junit = CliRunner().invoke(main, [*args, "--merge", str(rows_dir), "--format", "junit"])
    assert junit.exit_code == 0, junit.output
    suite = ElementTree.fromstring(junit.stdout.encode()).find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
