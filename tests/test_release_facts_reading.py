"""The per-release facts are read off the releases themselves (scripts/read_release_facts.py),
not from `detect`: the reader on the synthetic bundles, and on real releases against
tests/data/releases.json (CI: one release of each family; `--all-releases`: all 72)."""

from __future__ import annotations

import json
import shutil

import pytest
import release_facts
from conftest import BUNDLES

from patcher.cache.releases import fetch_release

KNOWN = sorted(
    b.name
    for b in BUNDLES.iterdir()
    if (b / "expected.json").is_file() and json.loads((b / "expected.json").read_text())["family"]
)


@pytest.mark.parametrize("name", KNOWN)
def test_reader_agrees_with_each_synthetic_bundle(name):
    expected = json.loads((BUNDLES / name / "expected.json").read_text())
    facts = release_facts.read_facts(BUNDLES / name)
    assert (facts["family"], facts["store"]) == (expected["family"], expected["store"])
    for role in release_facts.ROLES:
        listed = expected["files"][role] + expected["copies"][role]
        assert sorted(facts["files"][role]) == sorted(p.removeprefix("dist/") for p in listed)


def test_reader_is_not_fooled_by_names_in_comments_and_strings(tmp_path):
    # 2026.4.14-inline-json has a docs chunk naming markCronJobActive( in a comment and the
    # sweeper's definition in a string: neither is a role.
    facts = release_facts.read_facts(BUNDLES / "2026.4.14-inline-json")
    assert "docs-S4.js" not in facts["files"]["cron-service"] + facts["files"]["sweeper"]
    # Without the cron service the reader says unknown, never a family.
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLES / "2026.4.14-inline-json", copy)
    (copy / "dist" / "server.impl-S2.js").unlink()
    assert release_facts.read_facts(copy)["family"] == "unknown (no cron-service)"


def test_differences_reads_a_truncated_store_list_as_a_subset():
    read = release_facts.read_facts(BUNDLES / "2026.4.14-inline-json")
    recorded = json.loads(json.dumps(read))
    assert release_facts.differences(read, recorded) == []
    recorded["files"]["cron-store"] = []
    assert release_facts.differences(read, recorded) != []
    recorded["cron_store_list_truncated"] = True
    assert release_facts.differences(read, recorded) == []
    recorded["files"]["cron-store"] = ["send-X.js"]
    assert release_facts.differences(read, recorded) == [
        "cron-store: read ['store-S3.js'], recorded ['send-X.js']"
    ]
    recorded["engines_node"] = ">=99"
    assert "engines_node '>=18', recorded '>=99'" in release_facts.differences(read, recorded)


@pytest.mark.release
def test_recorded_facts_are_read_off_the_release(release_version, release_cache):
    root = fetch_release(release_version, release_cache)
    facts = release_facts.read_facts(root)
    assert release_facts.differences(facts, release_facts.load()[release_version]) == []
