"""The harness plumbing on synthetic bundles: locating functions, import closures, failures."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from conftest import BUNDLES

from patcher.detection.roles import ShapeError, export_name, locate_definitions
from patcher.simulation.harness import (
    HarnessError,
    Prepared,
    ensure_dependencies,
    import_closure,
    open_gate,
    package_name,
    run_harness,
    scratch_env,
    start_harness,
)


def test_locate_definitions_by_name():
    dist = BUNDLES / "2026.8.1-fixed-worker" / "dist"
    found = locate_definitions(dist, ["markCronJobActive", "hasBackingSession"])
    # The minified worker bundle defines both too; only region chunks are modules to load.
    assert found["markCronJobActive"].name == "active-jobs-Y1.js"
    assert found["hasBackingSession"].name == "task-registry.maintenance-Y2.js"


def test_locate_refuses_missing_and_ambiguous():
    with pytest.raises(ShapeError, match="CronService defined once .* found in no chunk"):
        locate_definitions(BUNDLES / "2026.4.14-inline-json" / "dist", ["CronService"])
    with pytest.raises(ShapeError, match="found in task-registry.maintenance-K1.js, task-registry"):
        locate_definitions(BUNDLES / "unknown-two-sweepers" / "dist", ["hasBackingSession"])


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("semver", "semver"),
        ("@scope/pkg/sub.js", "@scope/pkg"),
        ("./x.js", None),
        ("node:fs", None),
        ("JSONStream", "JSONStream"),
        ("::1", None),  # a string literal the scan took for a specifier
        ("@scope", None),
        ("a b", None),
    ],
)
def test_package_name(spec, name):
    assert package_name(spec) == name


def test_import_closure_follows_chunks_and_requires(tmp_path):
    (tmp_path / "a.js").write_text(
        'import { x } from "./b.js";\nimport json5 from "json5";\nexport * from "./c.js";\n'
        'const lazy = () => import("./never.js");\n'
    )
    (tmp_path / "b.js").write_text(
        'import "zod";\nconst s = createRequire(import.meta.url)("semver");\nexport const x = 1;\n'
    )
    (tmp_path / "c.js").write_text(
        'import { a } from "@scope/pkg/deep";\nimport fs from "node:fs";\n'
    )
    (tmp_path / "never.js").write_text('import "should-not-appear";\n')
    assert import_closure([tmp_path / "a.js"]) == {"json5", "zod", "semver", "@scope/pkg"}


def test_ensure_dependencies_links_and_keeps_a_real_install(tmp_path, monkeypatch):
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "package.json").write_text(
        json.dumps({"dependencies": {"json5": "^2.2.3"}, "overrides": {"axios": "1.0.0"}})
    )
    calls = []

    def fake_npm(args, timeout=0):
        calls.append(args)
        prefix = args[args.index("--prefix") + 1]
        (tmp_path / prefix / "node_modules").mkdir(parents=True, exist_ok=True)
        return ""

    monkeypatch.setattr("patcher.simulation.harness.run_npm", fake_npm)
    deps = tmp_path / "deps" / "v1"
    ensure_dependencies(root, {"json5", "not-a-dependency"}, deps)
    manifest = json.loads((deps / "package.json").read_text())
    assert manifest["dependencies"] == {"json5": "^2.2.3"}
    assert manifest["overrides"] == {"axios": "1.0.0"}
    assert (root / "node_modules").resolve() == (deps / "node_modules").resolve()
    ensure_dependencies(root, {"json5"}, deps)
    assert len(calls) == 1  # reused


def installed_release(tmp_path, version: str, ranges: dict[str, str], imports=None):
    """A release declaring `ranges`, its `imports` (all it declares by default) installed
    into the cache at tmp_path/cache; its dependency install's node_modules."""
    root = tmp_path / version / "package"
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"dependencies": ranges}))
    deps = tmp_path / "cache" / "deps" / version
    ensure_dependencies(
        root, set(ranges) if imports is None else imports, deps, cache=deps.parent.parent
    )
    return deps / "node_modules"


def test_a_release_asking_npm_for_what_another_asked_gets_a_clone_of_its_install(
    tmp_path, monkeypatch
):
    """Consecutive releases often ask npm for the very same packages and ranges: the second
    gets hard links to the first one's install, not an npm install of its own; a release
    that asks for anything else gets its own."""
    calls = []

    def fake_npm(args, timeout=0):
        if "--package-lock-only" in args:
            return ""
        calls.append(args)
        modules = tmp_path / args[args.index("--prefix") + 1] / "node_modules"
        (modules / "json5").mkdir(parents=True, exist_ok=True)
        (modules / "json5" / "index.js").write_text(f"export default {len(calls)};\n")
        (modules / ".package-lock.json").write_text("{}")
        return ""

    monkeypatch.setattr("patcher.simulation.harness.run_npm", fake_npm)
    one = installed_release(tmp_path, "1", {"json5": "^2.2.3"}, {"json5"})
    # asks npm for the same: "unused" is not imported
    two = installed_release(tmp_path, "2", {"json5": "^2.2.3", "unused": "1"}, {"json5"})
    three = installed_release(tmp_path, "3", {"json5": "^2.2.4"}, {"json5"})
    assert len(calls) == 2
    assert (two / "json5" / "index.js").stat().st_ino == (one / "json5" / "index.js").stat().st_ino
    # npm may rewrite its hidden lockfile in place: never shared
    assert (two / ".package-lock.json").stat().st_ino != (one / ".package-lock.json").stat().st_ino
    assert (three / "json5" / "index.js").read_text() == "export default 2;\n"
    assert (tmp_path / "2" / "package" / "node_modules").resolve() == two.resolve()


def test_a_new_install_links_the_packages_another_install_holds_as_npm_resolved_them(
    tmp_path, monkeypatch
):
    """npm resolves the release's lockfile first; each package it places at the path,
    version and integrity another install holds is linked from there, and npm writes the
    rest. A package at another version is npm's to write, whatever the other install has."""
    published = {"json5": "2.2.3", "semver": "7.6.0", "zod": "3.0.0"}
    written = []

    def fake_npm(args, timeout=0):
        prefix = tmp_path / args[args.index("--prefix") + 1]
        asked = json.loads((prefix / "package.json").read_text())["dependencies"]
        lockfile = prefix / "package-lock.json"
        if "--package-lock-only" in args:
            entries = {
                f"node_modules/{name}": {
                    "version": published[name],
                    "integrity": f"sha512-{name}-{published[name]}",
                }
                for name in asked
            }
            lockfile.write_text(json.dumps({"packages": {"": {}, **entries}}))
            return ""
        for path, entry in json.loads(lockfile.read_text())["packages"].items():
            package = prefix / path
            if path and not (package / "package.json").is_file():
                package.mkdir(parents=True)
                (package / "package.json").write_text(json.dumps({"version": entry["version"]}))
                (package / "index.js").write_text(f"// {path} {entry['version']}\n")
                written.append(path.removeprefix("node_modules/"))
        return ""

    monkeypatch.setattr("patcher.simulation.harness.run_npm", fake_npm)
    one = installed_release(tmp_path, "1", {"json5": "^2", "semver": "^7"})
    assert sorted(written) == ["json5", "semver"]
    written.clear()
    published["semver"] = "7.7.0"
    two = installed_release(tmp_path, "2", {"json5": "^2", "semver": "^7", "zod": "^3"})
    assert sorted(written) == ["semver", "zod"]
    assert (two / "json5" / "index.js").stat().st_ino == (one / "json5" / "index.js").stat().st_ino
    assert (two / "semver" / "index.js").read_text() == "// node_modules/semver 7.7.0\n"


def test_a_copy_installs_a_lazily_imported_package_into_the_shared_deps(tmp_path, monkeypatch):
    # verify runs the pristine and patched sides at once: the copy's side may be the first to
    # meet a package only a lazy import() needs, and must install it, not fail on it.
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "package.json").write_text(
        json.dumps({"dependencies": {"json5": "^2.2.3", "lazy-pkg": "1.0.0"}})
    )
    installed = []

    def fake_npm(args, timeout=0):
        prefix = tmp_path / args[args.index("--prefix") + 1]
        manifest = json.loads((prefix / "package.json").read_text())
        for name in manifest["dependencies"]:
            (prefix / "node_modules" / name).mkdir(parents=True, exist_ok=True)
        installed.append(sorted(manifest["dependencies"]))
        return ""

    monkeypatch.setattr("patcher.simulation.harness.run_npm", fake_npm)
    deps = tmp_path / "deps" / "v1"
    ensure_dependencies(root, {"json5"}, deps)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    pristine = Prepared(root, tmp_path / "node", "test", {}, deps, tmp_path)
    patched = pristine.rerooted(copy)
    assert patched.deps_dir == deps

    tries = []

    def side():
        tries.append(1)
        if not (copy / "node_modules" / "lazy-pkg").is_dir():
            raise HarnessError("Error: Cannot find package 'lazy-pkg' imported from x.js")
        return "ran"

    assert patched.run(side) == "ran"
    assert len(tries) == 2
    assert installed[-1] == ["json5", "lazy-pkg"]
    # A copy with node_modules of its own (an install, not the cache's deps) installs nothing.
    other = tmp_path / "other"
    (other / "node_modules").mkdir(parents=True)
    assert pristine.rerooted(other).deps_dir is None


def test_harness_failure_is_a_harness_error_not_a_verdict(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed on PATH for the harness tests")
    chunk = tmp_path / "chunk.mjs"
    chunk.write_text("function hidden() { return 41; }\n")
    env = scratch_env(tmp_path / "scratch")
    with pytest.raises(HarnessError, match="harness .*failed"):
        run_harness(node, "store_reader.mjs", {"CronService": chunk}, {"storePath": "x"}, env)


def test_scratch_env_is_isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("VITEST", "1")
    monkeypatch.setenv("NODE_ENV", "test")
    env = scratch_env(tmp_path)
    assert "VITEST" not in env and "NODE_ENV" not in env
    assert env["HOME"] == str(tmp_path / "home")
    assert env["OPENCLAW_STATE_DIR"] == str(tmp_path / "state")


def test_export_name_reads_the_export_clause():
    chunk = BUNDLES / "2026.5.7-active-jobs-chunk" / "dist" / "active-jobs-V1.js"
    assert export_name(chunk, "markCronJobActive") == "i"
    assert export_name(chunk, "clearCronJobActive") == "t"
    with pytest.raises(ShapeError, match="does not export getCronActiveJobState"):
        export_name(chunk, "getCronActiveJobState")


GATED = """
export async function main() {
  return { now: Date.now() };
}
"""


def _gated(tmp_path, **kwargs):
    """A harness process on a trivial scenario, started behind the gate `tmp_path/gate`."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed on PATH for the harness tests")
    scenario = tmp_path / "gated.mjs"
    scenario.write_text(GATED)
    chunk = tmp_path / "chunk.mjs"
    chunk.write_text("function f() {}\n")
    env = scratch_env(tmp_path / "scratch")
    return start_harness(
        node, str(scenario), {"f": chunk}, {}, env, gate=tmp_path / "gate", **kwargs
    )


def test_a_gated_process_runs_at_the_time_the_gate_hands_over(tmp_path):
    started = _gated(tmp_path, clock={"offsetMs": 0})
    moment = 4_102_444_800_000  # 2100-01-01: far from this machine's clock
    open_gate(tmp_path / "gate", {"now": moment})
    now = started.result(timeout=60).result["now"]
    assert moment <= now < moment + 60_000  # the clock jumped to the gate's time


def test_a_gated_process_cancelled_before_its_gate_reports_nothing(tmp_path):
    started = _gated(tmp_path)
    started.cancel()
    with pytest.raises(HarnessError, match="stopped before it ended"):
        started.result(timeout=60)
    started.cancel()  # twice is harmless
    assert not list((tmp_path / "scratch" / "tmp").glob("*.json"))  # its config is gone


def test_a_cancel_from_another_thread_ends_the_wait_for_a_result(tmp_path):
    started = _gated(tmp_path)
    outcome = []

    def wait():
        try:
            started.result(timeout=60)
        except HarnessError as exc:
            outcome.append(str(exc))

    waiter = threading.Thread(target=wait)
    waiter.start()
    started.cancel()  # the gate never opens: only the cancel ends the wait
    waiter.join(timeout=60)
    assert outcome and "stopped before it ended" in outcome[0]


def test_where_a_release_defines_its_functions_is_kept_while_its_files_stay(tmp_path):
    from patcher.simulation.harness import _prepared_key, _recalled, _remember

    root = tmp_path / "release" / "package"
    (root / "dist").mkdir(parents=True)
    chunk = root / "dist" / "cron-A1.js"
    chunk.write_text("export class CronService {}\n")
    record = tmp_path / "release" / "files.json"
    record.write_text('{"version": 1, "files": {}}')
    deps = tmp_path / "deps"
    names = json.dumps([["CronService"], ["configureTaskRegistryMaintenance"]])
    key = _prepared_key(root)
    assert _recalled(root, deps, key, names) is None  # nothing kept yet
    _remember(root, deps, key, names, {"CronService": chunk}, {"croner"})
    assert _recalled(root, deps, key, names) == ({"CronService": chunk}, {"croner"})
    other = json.dumps([["CronService"], []])
    assert _recalled(root, deps, key, other) is None  # other names: found anew
    record.write_text('{"version": 1, "files": {"dist/x.js": []}}')
    assert _prepared_key(root) != key  # the release's files changed: so does the key
    assert _recalled(root, deps, _prepared_key(root), names) is None
    _remember(root, deps, key, names, {"CronService": chunk}, {"croner"})
    chunk.unlink()
    assert _recalled(root, deps, key, names) is None  # the chunk it named is gone
