"""The tree walker behind the cache's tree records and verify's rollback comparison."""

from __future__ import annotations

import os

from patcher.files.walk import tree_lstat


def test_every_entry_but_directories_by_relative_path(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.js").write_text("x")
    (tmp_path / "top.js").write_text("y")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "hidden.js").write_text("z")
    os.symlink(tmp_path / "elsewhere", tmp_path / "a" / "dirlink")
    os.symlink("top.js", tmp_path / "filelink")
    found = tree_lstat(tmp_path)
    assert set(found) == {
        "a/b/deep.js",
        "top.js",
        "elsewhere/hidden.js",
        "a/dirlink",
        "filelink",
    }  # a symlinked folder is an entry, never followed
    assert found["a/b/deep.js"].st_size == 1


def test_skip_prunes_a_folder_and_everything_below_it(tmp_path):
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    (tmp_path / "node_modules" / "pkg" / "index.js").write_text("x")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "chunk.js").write_text("y")
    found = tree_lstat(tmp_path, lambda rel, _st: rel == "node_modules")
    assert set(found) == {"dist/chunk.js"}


def test_a_folder_that_cannot_be_listed_holds_nothing(tmp_path):
    assert tree_lstat(tmp_path / "missing") == {}
