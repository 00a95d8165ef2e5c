"""The harness's sibling resolver (patcher/simulation/hooks.mjs): it must give Node's own answer
wherever it answers, and leave everything else to Node."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from patcher.simulation.harness import esm_dirs, run_harness, scratch_env
from patcher.simulation.node import find_node

pytestmark = pytest.mark.release  # fetches a Node with module.registerHooks (22.15+)

SCENARIO = """
export async function main({ symbols }) {
  return symbols.where();
}
"""


def _package(root: Path, type_: str | None) -> Path:
    """A package whose dist/entry.js defines `where` (the harness loads it by name) and
    imports a plain sibling, a symlinked sibling, and a file in a subdirectory."""
    dist = root / "dist"
    (dist / "sub").mkdir(parents=True)
    manifest = {"name": "pkg", "exports": {f"./x{i}": f"./dist/x{i}.js" for i in range(300)}}
    if type_:
        manifest["type"] = type_
    (root / "package.json").write_text(json.dumps(manifest))
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "real.js").write_text("export const url = import.meta.url;\n")
    os.symlink(root / "elsewhere" / "real.js", dist / "linked.js")
    (dist / "sibling.js").write_text("export const url = import.meta.url;\n")
    (dist / "sub" / "deep.js").write_text("export const url = import.meta.url;\n")
    (dist / "entry.js").write_text(
        'import { url as sibling } from "./sibling.js";\n'
        'import { url as linked } from "./linked.js";\n'
        'import { url as deep } from "./sub/deep.js";\n'
        "function where() { return { sibling, linked, deep }; }\n"
        "export { where as w };\n"
    )
    return dist / "entry.js"


def _run(entry: Path, cache: Path, hooks: str):
    node = find_node(">=22.15.0", cache).path
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.mjs"
        scenario.write_text(SCENARIO)
        env = {**scratch_env(Path(tmp)), "OPENCLAW_PATCHER_HOOKS": hooks}
        return run_harness(node, str(scenario), {"where": entry}, {}, env)


@pytest.mark.parametrize("hooks", ["in-thread", "off-thread"])
def test_siblings_resolve_to_nodes_own_answer(tmp_path, release_cache, hooks):
    entry = _package(tmp_path / "pkg", "module")
    real = Path(os.path.realpath(tmp_path / "pkg"))
    run = _run(entry, release_cache, hooks)
    assert run.result == {
        "sibling": (real / "dist" / "sibling.js").as_uri(),
        "linked": (real / "elsewhere" / "real.js").as_uri(),  # Node's realpath, not the link
        "deep": (real / "dist" / "sub" / "deep.js").as_uri(),
    }
    if hooks == "in-thread":  # only ./sibling.js was answered by the hook
        assert ("loader", {"siblings": 1}) in run.events


def test_a_scope_without_type_module_is_left_to_node(tmp_path, release_cache):
    entry = _package(tmp_path / "pkg", None)  # Node detects the format: still ESM here
    run = _run(entry, release_cache, "in-thread")
    assert run.result["sibling"].endswith("/dist/sibling.js")
    assert ("loader", {"siblings": 0}) in run.events


def test_esm_dirs_follow_the_nearest_package_json(tmp_path):
    (tmp_path / "package.json").write_text('{"type": "module"}')
    plain = tmp_path / "dist" / "a.js"
    scoped = tmp_path / "dist" / "ext" / "b.js"
    broken = tmp_path / "dist" / "bad" / "c.js"
    vendored = tmp_path / "node_modules" / "dep" / "d.js"
    for path in (plain, scoped, broken, vendored):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    (scoped.parent / "package.json").write_text('{"type": "commonjs"}')
    (broken.parent / "package.json").write_text("{not json")
    # dep has no package.json: Node stops at node_modules and never reaches the root's.
    found = esm_dirs([plain, scoped, broken, vendored])
    assert found == [str(Path(os.path.realpath(plain.parent)))]


@pytest.mark.parametrize("hooks", ["in-thread", "off-thread"])
def test_the_releases_hard_coded_tmp_folders_read_as_the_scratch(tmp_path, release_cache, hooks):
    """OpenClaw hard-codes "/tmp/openclaw" (its log) and "/tmp" (2026.9's locks): in the
    harness both literals point into the scratch temp folder, other strings stay."""
    dist = tmp_path / "pkg" / "dist"
    dist.mkdir(parents=True)
    (tmp_path / "pkg" / "package.json").write_text('{"name": "pkg", "type": "module"}')
    entry = dist / "entry.js"
    entry.write_text(
        'const LOG = "/tmp/openclaw";\nconst ROOT = "/tmp";\nconst OTHER = "/tmpfoo";\n'
        "function where() { return { LOG, ROOT, OTHER, tpl: `/tmp/x` }; }\nexport { where as w };\n"
    )
    node = find_node(">=22.15.0", release_cache).path
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.mjs"
        scenario.write_text(SCENARIO)
        env = {**scratch_env(Path(tmp) / "s"), "OPENCLAW_PATCHER_HOOKS": hooks}
        result = run_harness(node, str(scenario), {"where": entry}, {}, env).result
        scratch_tmp = env["TMPDIR"]
    assert result == {
        "LOG": f"{scratch_tmp}/openclaw",
        "ROOT": scratch_tmp,
        "OTHER": "/tmpfoo",
        "tpl": "/tmp/x",
    }
    assert not (tmp_path / "pkg" / "dist" / "entry.js").read_text().count(scratch_tmp)
