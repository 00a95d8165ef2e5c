"""Scratch copies for verify and matrix: repaired by `apply`, rolled back, compared."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import BUNDLES

from patcher.cache.content import is_cached_release
from patcher.cache.layout import kept_copy_dir
from patcher.cache.scratch import is_scratch
from patcher.verification.copies import (
    CLEAN,
    _files,
    identical_trees,
    linked_copy,
    repaired_copy,
    rolled_back_identical,
)


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A synthetic release with a plugin's node_modules under dist/ (part of the release)
    and a top-level node_modules (the harness's dependencies, not compared)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "release"
    shutil.copytree(BUNDLES / "2026.4.14-inline-json", root)
    plugin = root / "dist" / "extensions" / "demo" / "node_modules" / "dep"
    plugin.mkdir(parents=True)
    (plugin / "index.js").write_text("export const x = 1;\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "harness-only.js").write_text("// not the release's\n")
    return root


def _snapshot(root):
    return {rel: (root / rel).read_bytes() for rel in _files(root)}


def test_a_repaired_copy_rolls_back_byte_identical(release, tmp_path):
    cache = tmp_path / "cache"
    before = _snapshot(release)
    with repaired_copy(release, cache) as copy:
        changed = [rel for rel, data in _snapshot(copy).items() if data != before[rel]]
        assert changed  # apply wrote the repair into the copy
        assert _snapshot(release) == before  # and not into the release through a hard link
        assert rolled_back_identical(copy, release, cache) is True
    assert not copy.exists()
    assert list((cache / "installs").iterdir()) == []  # apply's record of the copy is gone
    assert "dist/extensions/demo/node_modules/dep/index.js" in _files(release)


def test_a_file_rollback_does_not_restore_is_caught(release, tmp_path):
    cache = tmp_path / "cache"
    with repaired_copy(release, cache) as copy:
        (copy / "dist" / "extensions" / "demo" / "stray.js").write_text("// left behind\n")
        assert rolled_back_identical(copy, release, cache) is False


def _record(release, text='{"files": {}}'):
    """What fetch_release leaves beside an extracted release: its file record."""
    (release.parent / "files.json").write_text(text)


def test_a_kept_copy_is_used_again_once_proven_identical(release, tmp_path):
    cache, before = tmp_path / "cache", _snapshot(release)
    _record(release)
    with repaired_copy(release, cache, keep="9.9.9") as copy:
        assert copy.parent == kept_copy_dir(cache, "9.9.9")
        assert not is_cached_release(copy, cache)  # the tool's own copy: apply may repair it
        (copy.parent / "this-copy").touch()  # gone if the folder is made anew
        assert rolled_back_identical(copy, release, cache) is True
    assert (copy.parent / CLEAN).is_file() and copy.is_dir()
    with repaired_copy(release, cache, keep="9.9.9") as again:
        assert again == copy and (copy.parent / "this-copy").exists()  # not made anew
        assert not (copy.parent / CLEAN).exists()  # while it is repaired, it is not clean
        assert any(data != before[rel] for rel, data in _snapshot(again).items())
        assert _snapshot(release) == before
        assert rolled_back_identical(again, release, cache) is True
    assert _snapshot(copy) == before and list((cache / "installs").iterdir()) == []


def test_a_kept_copy_not_proven_identical_is_removed(release, tmp_path):
    cache = tmp_path / "cache"
    _record(release)
    with repaired_copy(release, cache, keep="9.9.9") as copy:
        (copy / "dist" / "extensions" / "demo" / "stray.js").write_text("// left behind\n")
        assert rolled_back_identical(copy, release, cache) is False
    assert not copy.parent.exists()
    with pytest.raises(RuntimeError), repaired_copy(release, cache, keep="9.9.9") as copy:
        raise RuntimeError("the simulation failed midway")
    assert not copy.parent.exists()


def test_a_kept_copy_of_another_release_tree_is_made_anew(release, tmp_path):
    cache = tmp_path / "cache"
    _record(release)
    with repaired_copy(release, cache, keep="9.9.9") as copy:
        (copy.parent / "this-copy").touch()  # gone if the folder is made anew
        assert rolled_back_identical(copy, release, cache) is True
    _record(release, '{"files": {"re-extracted": 1}}')  # fetch_release extracted it again
    with repaired_copy(release, cache, keep="9.9.9") as again:
        assert again == copy and not (copy.parent / "this-copy").exists()
        assert rolled_back_identical(again, release, cache) is True


def test_a_kept_copy_in_use_leaves_another_run_a_scratch_copy(release, tmp_path):
    cache = tmp_path / "cache"
    _record(release)
    with repaired_copy(release, cache, keep="9.9.9") as one:
        with repaired_copy(release, cache, keep="9.9.9") as two:
            assert two != one and is_scratch(two, cache)
            assert rolled_back_identical(two, release, cache) is True
        assert not two.exists()
        assert rolled_back_identical(one, release, cache) is True
    assert (one.parent / CLEAN).is_file()


def test_an_install_without_a_file_record_gets_a_scratch_copy(release, tmp_path):
    cache = tmp_path / "cache"
    with repaired_copy(release, cache, keep="9.9.9") as copy:
        assert is_scratch(copy, cache)
        assert rolled_back_identical(copy, release, cache) is True
    assert not copy.exists() and not kept_copy_dir(cache, "9.9.9").exists()


def test_identical_trees_reads_what_is_not_the_same_file(tmp_path):
    release, copy = tmp_path / "release", tmp_path / "copy"
    (release / "dist").mkdir(parents=True)
    (release / "dist" / "a.js").write_text("a")
    (release / "dist" / "b.js").write_text("b")
    shutil.copytree(release, copy, copy_function=os.link)
    assert identical_trees(copy, release)
    (copy / "dist" / "b.js").unlink()
    (copy / "dist" / "b.js").write_text("b")  # a new inode, the same bytes
    assert identical_trees(copy, release)
    (copy / "dist" / "b.js").unlink()
    (copy / "dist" / "b.js").write_text("B")  # a new inode, other bytes
    assert not identical_trees(copy, release)
    (copy / "dist" / "b.js").write_text("b")
    (copy / "dist" / "b.js").chmod(0o755)
    assert not identical_trees(copy, release)  # the same bytes, another mode
    (copy / "dist" / "b.js").unlink()
    assert not identical_trees(copy, release)  # a file missing
    (release / "dist" / "b.js").unlink()
    os.symlink("a.js", release / "dist" / "b.js")
    os.symlink("a.js", copy / "dist" / "b.js")
    assert identical_trees(copy, release)  # the same link (not the same inode)
    (copy / "dist" / "b.js").unlink()
    os.symlink("./a.js", copy / "dist" / "b.js")
    assert not identical_trees(copy, release)  # a link elsewhere, however short


def test_a_copy_of_an_npm_install_resolves_its_hoisted_dependencies(tmp_path):
    prefix = tmp_path / "prefix" / "node_modules"
    (prefix / "openclaw" / "dist").mkdir(parents=True)
    (prefix / "openclaw" / "dist" / "a.js").write_text("export {};\n")
    (prefix / "ws").mkdir()
    copy = linked_copy(prefix / "openclaw", tmp_path / "one")
    assert (copy / "dist" / "a.js").read_text() == "export {};\n"
    assert (tmp_path / "one" / "node_modules").resolve() == prefix.resolve()
    assert (tmp_path / "one" / "node_modules" / "ws").is_dir()
    # A release extracted from its tarball has no neighbours to reach.
    alone = tmp_path / "release" / "package"
    (alone / "dist").mkdir(parents=True)
    linked_copy(alone, tmp_path / "two")
    assert not (tmp_path / "two" / "node_modules").exists()
