"""Discovery of installs on synthetic layouts: every way a user can have OpenClaw."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from patcher.detection.install import DiscoveryContext, discover, open_install
from patcher.errors import UsageError


def make_package(root: Path, version: str = "2026.4.14") -> Path:
    """A minimal OpenClaw package root: package.json, dist/, and the bin script."""
    (root / "dist").mkdir(parents=True)
    (root / "package.json").write_text(
        json.dumps({"name": "openclaw", "version": version, "engines": {"node": ">=22.14.0"}})
    )
    (root / "openclaw.mjs").write_text("#!/usr/bin/env node\nimport './dist/entry.js';\n")
    return root


def context(
    tmp_path: Path, env: dict | None = None, npm_root: Path | None = None
) -> DiscoveryContext:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return DiscoveryContext(
        env={"PATH": str(tmp_path / "empty-bin"), **(env or {})},
        home=home,
        platform="linux",
        npm_root_global=lambda: str(npm_root) if npm_root else None,
        homebrew_prefixes=(tmp_path / "brew-default",),
    )


def roots(installs) -> list[Path]:
    return [i.root for i in installs]


def test_nothing_found(tmp_path):
    assert discover(context(tmp_path)) == []


def test_path_symlink_is_followed_to_the_package(tmp_path):
    prefix = tmp_path / "prefix"
    pkg = make_package(prefix / "lib" / "node_modules" / "openclaw")
    bin_dir = prefix / "bin"
    bin_dir.mkdir()
    (bin_dir / "openclaw").symlink_to("../lib/node_modules/openclaw/openclaw.mjs")
    found = discover(context(tmp_path, {"PATH": str(bin_dir)}))
    assert roots(found) == [pkg.resolve()]
    assert found[0].found_by == ("PATH",)
    assert found[0].version == "2026.4.14"
    assert found[0].engines_node == ">=22.14.0"


def test_npm_global_root_and_prefix(tmp_path):
    npm_root = tmp_path / "npm-global" / "lib" / "node_modules"
    pkg = make_package(npm_root / "openclaw")
    assert roots(discover(context(tmp_path, npm_root=npm_root))) == [pkg.resolve()]
    env = {"npm_config_prefix": str(tmp_path / "npm-global")}
    found = discover(context(tmp_path, env))
    assert roots(found) == [pkg.resolve()]
    assert found[0].found_by == ("npm prefix",)


def test_pnpm_global_through_its_shim_and_its_home(tmp_path):
    pnpm_home = tmp_path / "home" / ".local" / "share" / "pnpm"
    pkg = make_package(pnpm_home / "global" / "5" / "node_modules" / "openclaw")
    # pnpm's bin entry is a shell script that names the package path, not a symlink.
    pnpm_home.mkdir(parents=True, exist_ok=True)
    shim = pnpm_home / "openclaw"
    shim.write_text(
        '#!/bin/sh\nbasedir=$(dirname "$0")\n'
        'exec node "$basedir/global/5/node_modules/openclaw/openclaw.mjs" "$@"\n'
    )
    shim.chmod(0o755)
    found = discover(context(tmp_path, {"PATH": str(pnpm_home)}))
    assert roots(found) == [pkg.resolve()]
    assert found[0].found_by == ("PATH", "pnpm")


def test_pnpm_home_from_environment(tmp_path):
    pnpm_home = tmp_path / "custom-pnpm"
    pkg = make_package(pnpm_home / "global" / "v10" / "node_modules" / "openclaw")
    assert roots(discover(context(tmp_path, {"PNPM_HOME": str(pnpm_home)}))) == [pkg.resolve()]


def test_yarn_global(tmp_path):
    pkg = make_package(
        tmp_path / "home" / ".config" / "yarn" / "global" / "node_modules" / "openclaw"
    )
    found = discover(context(tmp_path))
    assert roots(found) == [pkg.resolve()]
    assert found[0].found_by == ("yarn",)


def test_bun_global(tmp_path):
    pkg = make_package(
        tmp_path / "home" / ".bun" / "install" / "global" / "node_modules" / "openclaw"
    )
    assert roots(discover(context(tmp_path))) == [pkg.resolve()]
    other = make_package(tmp_path / "bun" / "install" / "global" / "node_modules" / "openclaw")
    found = discover(context(tmp_path, {"BUN_INSTALL": str(tmp_path / "bun")}))
    assert roots(found) == [other.resolve()]


def test_nvm_every_node_version(tmp_path):
    nvm = tmp_path / "home" / ".nvm" / "versions" / "node"
    a = make_package(nvm / "v22.14.0" / "lib" / "node_modules" / "openclaw", "2026.4.14")
    b = make_package(nvm / "v24.16.0" / "lib" / "node_modules" / "openclaw", "2026.9.6")
    found = discover(context(tmp_path))
    assert roots(found) == [a.resolve(), b.resolve()]
    assert [i.version for i in found] == ["2026.4.14", "2026.9.6"]
    assert {i.found_by for i in found} == {("nvm",)}


def test_fnm(tmp_path):
    fnm = tmp_path / "home" / ".local" / "share" / "fnm" / "node-versions"
    pkg = make_package(fnm / "v22.22.3" / "installation" / "lib" / "node_modules" / "openclaw")
    assert roots(discover(context(tmp_path))) == [pkg.resolve()]
    custom = make_package(
        tmp_path
        / "fnm"
        / "node-versions"
        / "v24.16.0"
        / "installation"
        / "lib"
        / "node_modules"
        / "openclaw"
    )
    found = discover(context(tmp_path, {"FNM_DIR": str(tmp_path / "fnm")}))
    assert roots(found) == [custom.resolve()]


def test_volta(tmp_path):
    volta = tmp_path / "home" / ".volta" / "tools" / "image" / "packages" / "openclaw"
    pkg = make_package(volta / "lib" / "node_modules" / "openclaw")
    found = discover(context(tmp_path))
    assert roots(found) == [pkg.resolve()]
    assert found[0].found_by == ("volta",)


def test_homebrew(tmp_path):
    brew = tmp_path / "brew-default"
    pkg = make_package(brew / "lib" / "node_modules" / "openclaw")
    assert roots(discover(context(tmp_path))) == [pkg.resolve()]
    custom = make_package(tmp_path / "hb" / "lib" / "node_modules" / "openclaw", "2026.5.7")
    found = discover(context(tmp_path, {"HOMEBREW_PREFIX": str(tmp_path / "hb")}))
    assert roots(found) == [custom.resolve(), pkg.resolve()]


def test_each_install_listed_once_with_every_way_it_was_found(tmp_path):
    prefix = tmp_path / "prefix"
    pkg = make_package(prefix / "lib" / "node_modules" / "openclaw")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "openclaw").symlink_to(pkg / "openclaw.mjs")
    # The same directory reached through a symlinked prefix counts once.
    (tmp_path / "alias").symlink_to(prefix)
    env = {"PATH": str(prefix / "bin"), "npm_config_prefix": str(tmp_path / "alias")}
    found = discover(context(tmp_path, env, npm_root=prefix / "lib" / "node_modules"))
    assert roots(found) == [pkg.resolve()]
    assert found[0].found_by == ("PATH", "npm root -g", "npm prefix")


def test_directories_that_are_not_openclaw_are_ignored(tmp_path):
    other = tmp_path / "home" / ".bun" / "install" / "global" / "node_modules" / "openclaw"
    other.mkdir(parents=True)
    (other / "package.json").write_text(json.dumps({"name": "not-openclaw"}))
    (other / "dist").mkdir()
    assert discover(context(tmp_path)) == []


@pytest.mark.parametrize("layout", ["package", "prefix", "global-prefix", "tarball"])
def test_open_install_accepts_what_users_pass(tmp_path, layout):
    where = {
        "package": ("pkg", "pkg"),
        "prefix": ("p/node_modules/openclaw", "p"),
        "global-prefix": ("g/lib/node_modules/openclaw", "g"),
        "tarball": ("x/package", "x"),
    }[layout]
    pkg = make_package(tmp_path / where[0])
    install = open_install(tmp_path / where[1])
    assert install.root == pkg.resolve()
    assert install.found_by == ("--root",)


def test_open_install_refuses_with_one_sentence(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        open_install(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="is not an OpenClaw package") as err:
        open_install(tmp_path / "empty")
    assert "\n" not in str(err.value)
    no_dist = tmp_path / "nodist"
    no_dist.mkdir()
    (no_dist / "package.json").write_text(json.dumps({"name": "openclaw", "version": "1"}))
    with pytest.raises(UsageError, match="not an OpenClaw package"):
        open_install(no_dist)


def test_unreadable_package_json_is_not_an_install(tmp_path):
    pkg = tmp_path / "broken"
    (pkg / "dist").mkdir(parents=True)
    (pkg / "package.json").write_text("{not json")
    with pytest.raises(UsageError):
        open_install(pkg)


def test_default_context_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("PATH", os.defpath)
    ctx = DiscoveryContext()
    assert ctx.env["PATH"] == os.defpath
