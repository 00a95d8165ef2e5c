"""The bundle map and the verdict on the synthetic bundles of every release shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import BUNDLES

from patcher.detection.detect import detect_install
from patcher.detection.install import open_install
from patcher.detection.roles import map_bundles

SHAPES = sorted(p.name for p in BUNDLES.iterdir() if (p / "expected.json").is_file())


def test_every_shape_has_a_fixture():
    families = {json.loads((BUNDLES / s / "expected.json").read_text())["family"] for s in SHAPES}
    assert families == {
        None,  # the unknown shapes
        "not-affected",
        "affected-json",
        "affected-json-recovery",
        "affected-sqlite",
        "affected-recovery-key",
        "fixed-upstream",
    }


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_is_mapped_and_judged_as_expected(shape):
    expected = json.loads((BUNDLES / shape / "expected.json").read_text())
    found = detect_install(open_install(BUNDLES / shape)).to_json()
    got = {k: found[k] for k in expected if k != "notes"}
    assert got == {k: v for k, v in expected.items() if k != "notes"}
    assert len(found["notes"]) == expected["notes"]


@pytest.mark.parametrize("shape", SHAPES)
def test_serial_and_forked_scans_agree(shape):
    dist = BUNDLES / shape / "dist"
    serial = [(h.role, h.path, h.primary, h.facts) for h in map_bundles(dist, workers=1).hits]
    forked = [(h.role, h.path, h.primary, h.facts) for h in map_bundles(dist, workers=3).hits]
    assert serial == forked


def test_mentions_in_comments_and_strings_are_not_roles():
    bm = map_bundles(BUNDLES / "2026.4.14-inline-json" / "dist")
    assert all(h.path.name != "docs-S4.js" for h in bm.hits)


def test_file_names_do_not_matter(tmp_path):
    """Renaming every chunk (as each release does) changes nothing but the names reported."""
    src = BUNDLES / "2026.5.7-active-jobs-chunk"
    dst = tmp_path / "pkg"
    shutil.copytree(src, dst)
    for i, path in enumerate(sorted((dst / "dist").glob("*.js"))):
        path.rename(path.with_name(f"chunk-{i}.js"))
    before = detect_install(open_install(src)).verdict
    after = detect_install(open_install(dst))
    assert (after.verdict.status, after.verdict.family) == (before.status, before.family)
    assert all(p.startswith("dist/chunk-") for ps in after.bundles.files(dst).values() for p in ps)


def test_type_declarations_and_other_files_are_not_scanned(tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "x.d.ts").write_text("export declare function markCronJobActive(id: string): void;\n")
    (dist / "y.json").write_text('{"hasBackingSession": true}\n')
    assert map_bundles(dist).hits == []


def test_a_large_minified_bundle_is_only_parsed_around_its_hits(tmp_path):
    """A 20 MB bundle without regions: found as copies, without parsing the whole file."""
    shape = BUNDLES / "2026.8.1-fixed-worker"
    dst = tmp_path / "pkg"
    shutil.copytree(shape, dst)
    worker = dst / "dist" / "worker" / "worker.mjs"
    body = worker.read_text()
    padding = "var pad=[" + ",".join(["1"] * 5_000_000) + "];\n"
    worker.write_text(padding + body + padding)
    bm = map_bundles(dst / "dist")
    assert {h.role for h in bm.copies("active-jobs") + bm.copies("sweeper")} == {
        "active-jobs",
        "sweeper",
    }


def test_unknown_reasons_name_the_role(bundle):
    detection = detect_install(open_install(bundle("unknown-two-sweepers")))
    assert detection.verdict.status == "unknown"
    assert "sweeper" in detection.verdict.reason and "2 times" in detection.verdict.reason
    assert detection.patch == "n/a"


def test_empty_dist_is_unknown(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "dist").mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "openclaw", "version": "2026.4.14"}))
    verdict = detect_install(open_install(pkg)).verdict
    assert verdict.status == "unknown"
    assert "no OpenClaw cron code" in verdict.reason


def test_relative_paths_in_files(bundle):
    root = bundle("2026.4.22-split-json")
    files = detect_install(open_install(root)).bundles.files(Path(root).resolve())
    assert files["cron-store"] == ["dist/store-T3.js"]


def test_a_bundle_with_regions_is_a_copy_only_when_no_module_imports_it(tmp_path):
    """2026.8.1-beta.3's all-in-one bundle keeps region markers: the imports tell it from the
    chunks. Without them nothing does, and the build is unknown rather than guessed."""
    root = tmp_path / "b"
    shutil.copytree(BUNDLES / "2026.8.1-beta.3-bundle-with-regions", root)
    bundle = root / "dist" / "runtime" / "all-in-one.mjs"
    assert detect_install(open_install(root)).verdict.status == "fixed-upstream"

    # A path in a string (the bundle names itself) is not an import; an import of it is.
    (root / "dist" / "launcher.js").write_text('import("./runtime/all-in-one.mjs");\n')
    verdict = detect_install(open_install(root)).verdict
    assert verdict.status == "unknown" and "found 2 times" in verdict.reason
    (root / "dist" / "launcher.js").unlink()

    entry = root / "dist" / "entry.js"
    entry.write_text('import "./noise-a1.js";\n')
    for chunk in root.joinpath("dist").glob("*-Q?.js"):
        chunk.write_text(chunk.read_text().replace('import "./active-jobs-Q1.js";\n', ""))
    verdict = detect_install(open_install(root)).verdict
    assert verdict.status == "unknown" and "all-in-one.mjs" in verdict.reason
    assert bundle.is_file()
