"""Seeding a dependency install from other installs: only what npm resolved, as it resolved it."""

from __future__ import annotations

import json
from pathlib import Path

from patcher.simulation.seeding import seed


def install(deps: Path, packages: dict[str, str], finished: bool = True) -> None:
    """A dependency install whose lockfile places `packages` (path -> version)."""
    deps.mkdir(parents=True)
    entries = {
        path: {"version": version, "integrity": f"sha512-{path.rsplit('/', 1)[-1]}-{version}"}
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
