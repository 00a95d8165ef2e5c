"""Release families by version number, and the cross-check against the code."""

from __future__ import annotations

import pytest

from patcher.detection.families import classify, family_for_version
from patcher.detection.roles import BundleMap
from patcher.versions import parse_version


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ("2026.2.26", "not-affected"),
        ("2026.3.1", "not-affected"),
        ("2026.4.2", "not-affected"),
        ("2026.4.5", "affected-json"),
        ("2026.4.24", "affected-json"),
        ("2026.4.25", "affected-json-recovery"),
        ("2026.5.3-1", "affected-json-recovery"),
        ("2026.5.28", "affected-json-recovery"),
        ("2026.6.1", "affected-sqlite"),
        ("2026.7.1-2", "affected-sqlite"),
        ("2026.7.35", "affected-sqlite"),
        # A family bounded by betas matches on the whole version, before the wide one.
        ("2026.7.2-beta.2", "affected-sqlite"),
        ("2026.7.2-beta.3", "affected-recovery-key"),
        ("2026.7.2-beta.4", "affected-recovery-key"),
        ("2026.7.2-beta.5", "affected-sqlite"),
        ("2026.7.2", "affected-sqlite"),
        ("2026.8.1", "fixed-upstream"),
        ("2026.9.6", "fixed-upstream"),
        ("2026.9.7", None),
        ("2027.1.1", None),
        ("not-a-version", None),
    ],
)
def test_family_for_version(version, family):
    found = family_for_version(version)
    assert (found.id if found else None) == family


def test_republishes_are_post_releases_and_betas_pre_releases():
    assert parse_version("2026.7.1-1") > parse_version("2026.7.1")
    assert parse_version("2026.7.1-1").base_version == "2026.7.1"
    assert parse_version("2026.6.1-beta.2").is_prerelease
    assert parse_version("2026.6.1-beta.2") < parse_version("2026.6.1")


def test_notes_say_when_code_and_version_disagree_or_version_is_new(tmp_path):
    empty = BundleMap(dist=tmp_path)
    assert "judged by code" in classify(empty, "2027.1.1").notes[0]
    assert "not a release number" in classify(empty, "main").notes[0]
    assert classify(empty, "2026.4.14").notes == []  # unknown code: nothing to cross-check
