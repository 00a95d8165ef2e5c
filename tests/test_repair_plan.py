"""The patch engine's edit filters and checks on small chunks written for the test."""

from __future__ import annotations

import pytest

from patcher.repair.plan import Edit, PlanRefused, load_specs, plan_file, range_notes, specs_for

CHUNK = """import { a as openDb, b as other } from "./db-X1.js";
import path from "node:path";
const key = (p) => path.resolve(p);
function load(storePath) {
\treturn openDb().get(key(storePath));
}
export { load as t };
"""


WRAPPER = "// openclaw-patcher t/wrap-load\nfunction load(p) {\n\treturn __patcher_load(p);\n}\n"


def wrap(uses: tuple[str, ...] = (), aliases: tuple[str, ...] = ()) -> Edit:
    return Edit(
        spec="t",
        id="wrap-load",
        role="cron-store",
        kind="wrap-function",
        why="test",
        function="load",
        aliases=aliases,
        text=WRAPPER,
        uses=uses,
    )


def test_an_edit_may_use_the_chunks_imports_and_declarations(tmp_path):
    chunk = tmp_path / "store-A.js"
    chunk.write_text(CHUNK)
    planned = plan_file(chunk, "cron-store", [wrap(uses=("openDb", "path", "key"))], tmp_path)
    assert "function __patcher_load(storePath)" in planned.patched
    assert planned.patched.index("// openclaw-patcher t/wrap-load") < planned.patched.index(
        "function __patcher_load"
    )


def test_an_edit_using_a_name_the_chunk_does_not_bind_is_refused(tmp_path):
    chunk = tmp_path / "store-A.js"
    chunk.write_text(CHUNK.replace("a as openDb", "a as openDatabase"))
    with pytest.raises(PlanRefused, match=r"uses openDb, which .*store-A\.js does not bind"):
        plan_file(chunk, "cron-store", [wrap(uses=("openDb",))], tmp_path)


def test_edits_apply_by_store_shape_only():
    assert wrap().applies_to("sqlite") and wrap().applies_to(None)
    shaped = Edit("t", "e", "cron-store", "add-import", "why", stores=("json",))
    assert shaped.applies_to("json") and not shaped.applies_to("sqlite")


def test_a_function_renamed_between_releases_is_found_by_any_of_its_names(tmp_path):
    """A spec may list the names a function has had (loadCronStoreSync before
    loadCronJobsStoreSync): the one the chunk defines is wrapped, and the snippet written
    with the first name uses the one found, plain and with the prefix."""
    chunk = tmp_path / "store-A.js"
    chunk.write_text(CHUNK.replace("load(", "loadOld(").replace("load as", "loadOld as"))
    planned = plan_file(chunk, "cron-store", [wrap(aliases=("loadOld",))], tmp_path)
    assert "function __patcher_loadOld(storePath)" in planned.patched
    assert "function loadOld(p) {\n\treturn __patcher_loadOld(p);" in planned.patched
    assert "function load(" not in planned.patched and "__patcher_load(" not in planned.patched
    both = chunk.read_text() + "function load(p) {}\n"
    chunk.write_text(both)
    with pytest.raises(PlanRefused, match="matched 2 places .*function load or loadOld"):
        plan_file(chunk, "cron-store", [wrap(aliases=("loadOld",))], tmp_path)


def test_specs_apply_by_code_shape_and_cross_check_the_version():
    """The family and store read off the code choose the spec; its version range only
    cross-checks (a note), so a beta or a re-publish with a known shape is repaired."""
    by_id = {spec.id: spec for spec in load_specs()}
    json_spec, sqlite_spec = by_id["cron-active-jobs-json"], by_id["cron-active-jobs-sqlite"]
    assert json_spec.applies_to("affected-json-recovery", "json-split")
    assert sqlite_spec.applies_to("affected-sqlite", "sqlite")
    assert not json_spec.applies_to("affected-sqlite", "sqlite")
    assert not sqlite_spec.applies_to("affected-json", "json")
    assert not sqlite_spec.applies_to("fixed-upstream", "sqlite")
    for version in ("2026.4.5", "2026.5.28"):
        assert json_spec.in_range(version) and not sqlite_spec.in_range(version)
    for version in ("2026.6.1", "2026.7.1-2", "2026.7.35"):
        assert sqlite_spec.in_range(version) and not json_spec.in_range(version)
    # Pre-releases sort as npm sorts them: 2026.6.1-beta.1 comes before 2026.6.1.
    assert not sqlite_spec.in_range("2026.6.1-beta.1") and json_spec.in_range("2026.5.31-beta.2")
    assert specs_for("affected-sqlite", "sqlite") == [sqlite_spec]
    notes = range_notes([sqlite_spec], "2026.5.31-beta.2")
    assert len(notes) == 1 and "not in the releases spec cron-active-jobs-sqlite" in notes[0]
    assert range_notes([sqlite_spec], "2026.7.1") == []
    catchup = next(e for e in sqlite_spec.edits if e.id == "catchup-mark-active")
    assert catchup.skip_if_calls == "markCronJobActive"


def test_an_edit_the_release_does_itself_is_left_out_by_its_code(tmp_path):
    """The catch-up wrapper marks the job active; where runStartupCatchupCandidate already
    calls markCronJobActive itself (2026.6.8+), the code leaves the edit out, whatever the
    version says."""
    import shutil

    from conftest import BUNDLES

    from patcher.detection.detect import detect_install
    from patcher.detection.install import open_install
    from patcher.repair.plan import plan

    def planned(root):
        d = detect_install(open_install(root))
        specs = specs_for(d.verdict.family, d.verdict.store)
        return plan(d.install.root, d.bundles, specs, d.verdict.store)

    root = tmp_path / "bundle"
    shutil.copytree(BUNDLES / "2026.6.1-sqlite-complete", root)
    assert "cron-active-jobs-sqlite/catchup-mark-active" in planned(root).diff(root)
    service = root / "dist" / "server-cron-C3.js"
    service.write_text(
        service.read_text().replace(
            "\tconst startedAt = state.deps.nowMs();\n\treturn await state.deps.runJob(",
            "\tconst startedAt = state.deps.nowMs();\n\tmarkCronJobActive(candidate.job.id);"
            "\n\treturn await state.deps.runJob(",
            1,
        )
    )
    diff = planned(root).diff(root)
    assert "catchup-mark-active" not in diff and "startup-rehydrate" in diff


def test_an_edit_outside_the_roles_goes_to_the_one_chunk_defining_its_function(tmp_path):
    """2026.7.2-beta.3/4: the task ledger's recovery lookup is in no role's file; the edit
    names the function and lands in the chunk that defines it, and is refused where no
    chunk (or more than one) does."""
    import shutil

    from conftest import BUNDLES

    from patcher.detection.detect import detect_install
    from patcher.detection.install import open_install
    from patcher.repair.plan import plan

    root = tmp_path / "bundle"
    shutil.copytree(BUNDLES / "2026.7.2-beta.4-recovery-keyed-by-reservation", root)
    d = detect_install(open_install(root))
    specs = specs_for(d.verdict.family, d.verdict.store)
    assert [s.id for s in specs] == ["cron-recovery-lookup"]
    assert not specs[0].persists_active_ids
    found = plan(d.install.root, d.bundles, specs, d.verdict.store)
    assert [(f.path.name, f.role) for f in found.files] == [("task-runs-K5.js", "defining-chunk")]
    assert not found.persists_active_ids
    runs = root / "dist" / "task-runs-K5.js"
    copy = root / "dist" / "task-runs-K8.js"
    shutil.copy(runs, copy)
    assert plan(d.install.root, d.bundles, specs, d.verdict.store).files[0].path == runs
    entry = root / "dist" / "entry.js"  # a copy a module imports too: two definitions
    entry.write_text(entry.read_text() + 'import "./task-runs-K8.js";\n')
    with pytest.raises(PlanRefused, match="findLatestCronTaskRunForRecovery defined once"):
        plan(d.install.root, d.bundles, specs, d.verdict.store)
    copy.unlink()
    runs.write_text(runs.read_text().replace("findLatestCronTaskRun", "findCronRun"))
    with pytest.raises(PlanRefused, match="the one chunk that defines .* found no chunk"):
        plan(d.install.root, d.bundles, specs, d.verdict.store)
