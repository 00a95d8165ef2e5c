"""Stand-ins for packages a build pins at a version the registry does not publish."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import patcher.simulation.harness as h
import patcher.simulation.substitutes as s
from patcher.cache.releases import NpmFailed
from patcher.matrix.reports import render_junit, render_text
from patcher.matrix.run import Row

PROXYLINE = ["0.3.3", "0.3.4", "0.3.7", "0.3.11"]
AI = ["2026.7.1-1", "2026.7.1", "2026.7.2-beta.2", "2026.7.2-beta.5", "2026.8.1-beta.1",
      "2026.8.1-beta.3", "2026.8.1"]  # fmt: skip


@pytest.mark.parametrize(
    ("wanted", "versions", "declared", "used"),
    [
        ("0.2.0", PROXYLINE, "0.2.0", "0.3.3"),  # same major, the next one above
        ("0.3.2", PROXYLINE, "0.3.2", "0.3.3"),
        ("0.3.8", PROXYLINE, None, "0.3.11"),
        ("0.9.0", PROXYLINE, None, "0.3.11"),  # none above: the highest below
        ("1.0.0", PROXYLINE, None, None),  # no version of its major
        ("2026.7.1-beta.4", AI, None, "2026.7.1"),  # a pre-release may get one
        ("2026.7.2-beta.1", AI, None, "2026.7.2-beta.2"),
        ("2026.8.1-beta.2", AI, None, "2026.8.1-beta.3"),
        ("^0.75.3", ["0.75.1", "0.75.4", "0.76.0"], None, "0.75.4"),
        # The build's declared range comes first, even across a major.
        ("2.0.0", ["1.9.0", "3.1.0", "3.2.0"], ">=3.1 <4", "3.1.0"),
        ("not a version", PROXYLINE, None, None),
    ],
)
def test_the_nearest_published_version(wanted, versions, declared, used):
    assert s.nearest(wanted, versions, declared) == used


def test_a_stable_pin_never_gets_a_pre_release():
    assert s.nearest("1.2.0", ["1.3.0-beta.1", "1.3.0"]) == "1.3.0"


def test_npm_failures_that_mean_unpublished_name_the_package():
    notarget = NpmFailed(
        "npm install failed: notarget No matching version found for @openclaw/proxyline@0.2.0.",
        "ETARGET",
    )
    assert s.unpublished(notarget) == ("@openclaw/proxyline", "0.2.0")
    missing = NpmFailed("npm install failed: 404 '@x/gone@1.2.3' is not in this registry.", "E404")
    assert s.unpublished(missing) == ("@x/gone", "1.2.3")
    assert (
        s.unpublished(NpmFailed("npm install failed: ERESOLVE unable to resolve", "ERESOLVE"))
        is None
    )


class FakeNpm:
    """npm install that fails, once per package, for versions the registry lacks; with
    `--prefer-offline` also for those published after npm cached the metadata (`newer`)."""

    def __init__(self, registry: dict[str, list[str]], newer: dict[str, list[str]] | None = None):
        self.registry = registry
        self.newer = newer or {}
        self.calls: list[list[str]] = []

    def install(self, args, timeout=0):
        self.calls.append(args)
        folder = args[args.index("--prefix") + 1]
        manifest = json.loads((Path(folder) / "package.json").read_text())
        for name, spec in manifest["dependencies"].items():
            spec = manifest["overrides"].get(name, spec)
            if spec.startswith("file:"):
                continue
            if name not in self.registry:
                raise NpmFailed(
                    f"npm install failed: 404 '{name}@{spec}' is not in this registry.", "E404"
                )
            cached = "--prefer-offline" in args and spec in self.newer.get(name, [])
            if spec not in self.registry[name] or cached:
                raise NpmFailed(
                    f"npm install failed: notarget No matching version found for {name}@{spec}.",
                    "ETARGET",
                )
        (Path(folder) / "node_modules").mkdir(exist_ok=True)
        return ""


def _release(tmp_path, dependencies):
    root = tmp_path / "release"
    (root / "dist").mkdir(parents=True)
    (root / "package.json").write_text(
        json.dumps(
            {"name": "openclaw", "version": "2026.5.14-beta.1", "dependencies": dependencies}
        )
    )
    (root / "dist" / "proxy-A1.js").write_text(
        'import { createProxy, ProxyLine as Line } from "@x/gone";\n'
        'import { helper } from "@x/gone/sub";\n'
    )
    return root


def test_unpublished_pins_are_substituted_and_recorded(tmp_path, monkeypatch):
    root = _release(tmp_path, {"@openclaw/proxyline": "0.2.0", "@x/gone": "1.0.0", "ws": "8.20.0"})
    npm = FakeNpm({"@openclaw/proxyline": PROXYLINE, "ws": ["8.20.0"]})
    monkeypatch.setattr(h, "run_npm", npm.install)
    monkeypatch.setattr(s, "published", lambda name: npm.registry.get(name, []))
    deps = tmp_path / "deps" / "2026.5.14-beta.1"

    subs = h.ensure_dependencies(root, {"@openclaw/proxyline", "@x/gone", "ws"}, deps)
    assert subs.versions == {"@openclaw/proxyline": ["0.2.0", "0.3.3"]}
    assert subs.stubs == {"@x/gone": "1.0.0"}
    manifest = json.loads((deps / "package.json").read_text())
    assert manifest["dependencies"]["ws"] == "8.20.0"  # the build's own pin, untouched
    assert manifest["dependencies"]["@openclaw/proxyline"] == "0.3.3"
    assert manifest["overrides"]["@openclaw/proxyline"] == "0.3.3"  # transitive uses too
    assert manifest["dependencies"]["@x/gone"].startswith("file:./stubs/")
    # Each missing pin is asked of the registry again before a stand-in is chosen.
    assert [("--prefer-offline" in c) for c in npm.calls] == [True, False, True, False, True]
    assert "--legacy-peer-deps" in npm.calls[-1]

    # A warm run installs nothing and reports the same.
    again = h.ensure_dependencies(root, {"ws"}, deps)
    assert again.to_json() == subs.to_json() and len(npm.calls) == 5
    lines = again.describe()
    assert any("@openclaw/proxyline@0.2.0 is not published" in ln and "0.3.3" in ln for ln in lines)
    assert any("@x/gone@1.0.0" in ln and "stub" in ln for ln in lines)


def test_a_stand_in_that_fails_too_names_the_package(tmp_path, monkeypatch):
    root = _release(tmp_path, {"@openclaw/proxyline": "0.2.0"})
    npm = FakeNpm({"@openclaw/proxyline": PROXYLINE})

    def always_notarget(args, timeout=0):
        npm.calls.append(args)
        raise NpmFailed(
            "npm install failed: notarget No matching version found for @openclaw/proxyline@0.2.0.",
            "ETARGET",
        )

    monkeypatch.setattr(h, "run_npm", always_notarget)
    monkeypatch.setattr(s, "published", lambda name: PROXYLINE)
    with pytest.raises(h.HarnessError, match=r"cannot install @openclaw/proxyline@0\.2\.0"):
        h.ensure_dependencies(root, {"@openclaw/proxyline"}, tmp_path / "deps" / "v")
    assert len(npm.calls) == 4


def test_a_version_newer_than_npms_cached_metadata_is_installed_not_substituted(
    tmp_path, monkeypatch
):
    # npm's cache predates ws 8.21.0: the install that takes the cache as it is fails, the
    # one that asks the registry finds it, and nothing stands in for it.
    root = _release(tmp_path, {"ws": "8.21.0"})
    npm = FakeNpm({"ws": ["8.20.0", "8.21.0"]}, newer={"ws": ["8.21.0"]})
    monkeypatch.setattr(h, "run_npm", npm.install)
    monkeypatch.setattr(s, "published", lambda name: npm.registry.get(name, []))
    subs = h.ensure_dependencies(root, {"ws"}, tmp_path / "deps" / "v")
    assert not subs and [("--prefer-offline" in c) for c in npm.calls] == [True, False]


def test_a_stub_imports_cleanly_and_throws_naming_the_package_when_used(tmp_path):
    spec = s.write_stub(tmp_path, "@x/gone", "1.0.0", {"createProxy", "ProxyLine", "helper"})
    assert spec == "file:./stubs/@x__gone"
    modules = tmp_path / "node_modules" / "@x"
    modules.mkdir(parents=True)
    (modules / "gone").symlink_to(tmp_path / "stubs" / "@x__gone")
    (tmp_path / "probe.mjs").write_text(
        'import gone, { createProxy } from "@x/gone";\n'
        'import { helper } from "@x/gone/sub";\n'
        "const seen = [typeof createProxy, typeof helper, typeof gone];\n"
        "try { createProxy(); } catch (e) { seen.push(e.message); }\n"
        "try { helper.run; } catch (e) { seen.push(e.message); }\n"
        "await Promise.resolve(gone);\n"  # a thenable probe must not throw
        "console.log(JSON.stringify(seen));\n"
    )
    done = subprocess.run(
        [shutil.which("node") or "node", str(tmp_path / "probe.mjs")],
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen[:3] == ["function", "function", "function"]
    assert "@x/gone@1.0.0 is a stub" in seen[3] and "createProxy was used" in seen[3]
    assert "helper.run was used" in seen[4]


def test_a_row_verified_with_substitutions_says_so():
    report = {
        "schema": "openclaw-patcher/verify/1",
        "version": "2026.5.14-beta.1",
        "status": "affected",
        "family": "affected-json-recovery",
        "pristine": {"ok": False, "bug_reproduced": True, "scenarios": {}},
        "patched": {"ok": True, "scenarios": {}},
        "rollback_identical": True,
        "substituted": {"@openclaw/proxyline": ["0.2.0", "0.3.3"]},
        "stubs": {"@x/gone": "1.0.0"},
        "summary": "s",
    }
    row = Row("2026.5.14-beta.1", report, {"total": 10.0})
    assert row.ok
    text = render_text([row])
    assert "ok, with substitutions (@openclaw/proxyline 0.2.0→0.3.3, @x/gone 1.0.0→stub)" in text
    assert "verified with substitutions: @openclaw/proxyline 0.2.0→0.3.3" in render_junit([row])


def test_candidates_alternate_above_and_below_nearest_first():
    assert s.candidates("2026.7.2-beta.3", AI) == [
        "2026.7.2-beta.5",
        "2026.7.2-beta.2",
        "2026.8.1-beta.1",
        "2026.7.1",
        "2026.8.1-beta.3",
        "2026.7.1-1",
        "2026.8.1",
    ]


def test_a_stand_in_that_lacks_an_export_gives_way_to_the_next_then_a_stub():
    subs = s.Substitutions(versions={"@openclaw/ai": ["2026.7.2-beta.3", "2026.7.2-beta.5"]})
    subs.reject("@openclaw/ai", AI, None)
    assert subs.versions == {"@openclaw/ai": ["2026.7.2-beta.3", "2026.7.2-beta.2"]}
    subs.reject("@openclaw/ai", AI, None)
    subs.reject("@openclaw/ai", AI, None)
    assert subs.versions == {} and subs.stubs == {"@openclaw/ai": "2026.7.2-beta.3"}
    assert subs.rejected["@openclaw/ai"] == [
        "2026.7.2-beta.5",
        "2026.7.2-beta.2",
        "2026.8.1-beta.1",
    ]
    again = s.Substitutions.from_json(json.loads(json.dumps(subs.to_json())))
    assert again == subs
    assert any("did not fit the build" in line for line in again.describe())


def test_a_load_error_names_the_error_not_only_the_file():
    detail = (
        "file:///r/dist/llm-D.js:5\nimport { a } from '@openclaw/ai/internal/shared';\n"
        "         ^\nSyntaxError: The requested module '@openclaw/ai/internal/runtime' does not "
        "provide an export named 'registerApiProvider'\n    at ModuleJob._instantiate"
    )
    error = h._failure("restart.mjs", [("error", {"message": detail})], "", "ended before ready")
    assert "SyntaxError: The requested module '@openclaw/ai/internal/runtime'" in str(error)
    assert str(error).endswith("(at file:///r/dist/llm-D.js:5)")
    assert h._MISSING_EXPORT.search(str(error)).group(1) == "@openclaw/ai/internal/runtime"
