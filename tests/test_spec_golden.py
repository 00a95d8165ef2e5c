"""Golden diffs: what each patch spec does to each fixture bundle it applies to, kept as a
unified diff beside the spec (`patcher/repair/specs/<id>/golden/<bundle>.diff`), so a
reviewer reads a spec as a patch and any change to what it writes shows here first.

`pytest tests/test_spec_golden.py --update-golden` writes them anew (review the diff)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BUNDLES, REPO

from patcher.detection.detect import detect_install
from patcher.detection.families import AFFECTED
from patcher.detection.install import is_package_root, open_install
from patcher.repair.plan import PlanRefused, load_specs, plan, specs_for

SPECS = REPO / "patcher" / "repair" / "specs"


def golden_diffs() -> dict[Path, str]:
    """Per golden file, the diff its spec makes to its bundle."""
    out: dict[Path, str] = {}
    for bundle in sorted(p for p in BUNDLES.iterdir() if is_package_root(p)):
        detection = detect_install(open_install(bundle))
        verdict, install = detection.verdict, detection.install
        if verdict.status != AFFECTED:
            continue
        for spec in specs_for(verdict.family, verdict.store):
            try:
                found = plan(install.root, detection.bundles, [spec], verdict.store)
            except PlanRefused:
                continue  # a synthetic bundle without every anchor of this spec
            out[SPECS / spec.id / "golden" / f"{bundle.name}.diff"] = found.diff(install.root)
    return out


DIFFS = golden_diffs()


def test_every_spec_keeps_a_golden_diff_per_bundle_it_applies_to(request):
    if request.config.getoption("--update-golden"):
        for path, text in DIFFS.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for spec in load_specs():
        kept = sorted((SPECS / spec.id / "golden").glob("*.diff"))
        made = sorted(p for p in DIFFS if p.parent.parent.name == spec.id)
        assert kept == made, spec.id  # one per bundle it applies to, no stale one
    assert DIFFS  # at least one spec is pinned by a fixture


@pytest.mark.parametrize("golden", sorted(DIFFS), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_the_spec_makes_its_golden_diff(golden):
    assert golden.is_file(), f"{golden} is missing: run with --update-golden and review it"
    assert DIFFS[golden] == golden.read_text(), f"{golden} differs from what the spec makes now"
    assert DIFFS[golden].startswith("--- a/dist/")  # relative paths, nothing of this machine
