"""Seeding a dependency install from other installs: only what npm resolved, as it resolved it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from patcher.simulation.harness import ensure_dependencies
from patcher.simulation.seeding import seed


def install(
    deps: Path,
    packages: dict[str, str],
    finished: bool = True,
    bins: dict[str, dict[str, str]] | None = None,
) -> None:
    """A dependency install whose lockfile places `packages` (path -> version), with the
    commands in `bins` (path -> {name: file}) linked as npm links them."""
    deps.mkdir(parents=True)
    bins = bins or {}
    entries = {
        path: {"version": version, "integrity": f"sha512-{path.rsplit('/', 1)[-1]}-{version}"}
        | ({"bin": bins[path]} if path in bins else {})
        for path, version in packages.items()
    }
    (deps / "package-lock.json").write_text(json.dumps({"packages": {"": {}, **entries}}))
    if not finished:
        return
    (deps / ".installed.json").write_text("{}")
    for path, version in packages.items():
        (deps / path).mkdir(parents=True, exist_ok=True)
        (deps / path / "package.json").write_text(json.dumps({"version": version}))
        (deps / path / "index.js").write_text(f"// {path} {version}\n")
        folder = deps / path.rpartition("node_modules/")[0] / "node_modules" / ".bin"
        for name, file in bins.get(path, {}).items():
            folder.mkdir(exist_ok=True)
            os.symlink(f"../{path.rpartition('node_modules/')[2]}/{file}", folder / name)


def test_only_packages_placed_alike_are_linked_and_never_inside_one_left_to_npm(tmp_path):
    cache = tmp_path / "cache"
    install(
        cache / "deps" / "1",
        {"node_modules/a": "1", "node_modules/a/node_modules/b": "1", "node_modules/c": "1"},
    )
    install(cache / "deps" / "2", {"node_modules/a": "2", "node_modules/d": "1"})
    new = cache / "deps" / "3"
    install(
        new,
        {
            "node_modules/a": "2",  # as 2 holds it
            "node_modules/a/node_modules/b": "1",  # as 1 holds it (there inside a@1)
            "node_modules/c": "2",  # no install holds c@2
            "node_modules/d": "1",
        },
        finished=False,
    )
    assert seed(new, cache) == 3
    modules = new / "node_modules"
    assert (modules / "a" / "index.js").read_text() == "// node_modules/a 2\n"
    assert (modules / "a" / "index.js").stat().st_ino == (
        cache / "deps" / "2" / "node_modules" / "a" / "index.js"
    ).stat().st_ino
    assert (modules / "d" / "package.json").is_file()
    assert not (modules / "c").exists()  # npm's to write
    # b@1 is the same bytes in whichever a: linked, since a is linked (a@2, from 2)
    assert (modules / "a" / "node_modules" / "b" / "package.json").is_file()


def test_a_nested_package_whose_parent_is_left_to_npm_is_left_too(tmp_path):
    """A folder made for a nested package would stand where npm must write its parent."""
    cache = tmp_path / "cache"
    install(cache / "deps" / "1", {"node_modules/a": "1", "node_modules/a/node_modules/b": "1"})
    new = cache / "deps" / "2"
    install(new, {"node_modules/a": "2", "node_modules/a/node_modules/b": "1"}, finished=False)
    assert seed(new, cache) == 0
    assert not (new / "node_modules" / "a").exists()


def test_an_unfinished_install_is_no_source(tmp_path):
    cache = tmp_path / "cache"
    install(cache / "deps" / "1", {"node_modules/a": "1"}, finished=False)
    (cache / "deps" / "1" / "node_modules" / "a").mkdir(parents=True)
    new = cache / "deps" / "2"
    install(new, {"node_modules/a": "1"}, finished=False)
    assert seed(new, cache) == 0


def test_a_linked_package_gets_its_command_links_as_its_source_holds_them(tmp_path):
    """npm counts a package whose command link is missing as changed and writes it again."""
    cache = tmp_path / "cache"
    packages = {"node_modules/a": "1", "node_modules/a/node_modules/b": "1"}
    bins = {"node_modules/a": {"a": "index.js"}, "node_modules/a/node_modules/b": {"bee": "x.js"}}
    install(cache / "deps" / "1", packages, bins=bins)
    new = cache / "deps" / "2"
    install(new, packages, finished=False, bins=bins)
    assert seed(new, cache) == 2
    link = new / "node_modules" / ".bin" / "a"
    assert os.readlink(link) == "../a/index.js" and link.resolve().is_file()
    # b's command file is not there (the source's link dangles): that link is npm's to make
    assert not os.path.lexists(new / "node_modules" / "a" / "node_modules" / ".bin" / "bee")


@pytest.mark.release
def test_npm_keeps_a_seeded_package_with_commands_as_linked(tmp_path, monkeypatch):
    """The real npm, two installs asking for the same packages in different ranges (so the
    second is seeded, not cloned): npm keeps the seeded files (same inodes) and the second
    install's tree is the first's. (Storing files once would link what npm wrote again to
    the same inodes and hide it: it is off here.)"""
    monkeypatch.setattr("patcher.simulation.harness.dedupe", lambda *a, **k: None)
    cache = tmp_path / "cache"
    trees = []
    for version, spec in (("1", "7.6.3"), ("2", "^7.6.3 <7.6.4")):
        root = tmp_path / version / "package"
        root.mkdir(parents=True)
        (root / "package.json").write_text(json.dumps({"dependencies": {"semver": spec}}))
        deps = cache / "deps" / version
        ensure_dependencies(root, {"semver"}, deps, cache=cache)
        modules = deps / "node_modules"
        trees.append(
            {
                str(p.relative_to(modules)): (os.readlink(p) if p.is_symlink() else p.stat().st_ino)
                for p in modules.rglob("*")
                if p.name != ".package-lock.json" and not p.is_dir()
            }
        )
    assert trees[1] == trees[0]  # the same inodes: nothing written again
    assert trees[1][".bin/semver"] == "../semver/bin/semver.js"
