"""The byte prefilter: what it finds, and what `remembered()` saves it from reading again."""

from __future__ import annotations

import os
import shutil

import pytest

from patcher.detection import scan as s
from patcher.detection.roles import ShapeError, locate_definitions


@pytest.fixture
def dist(tmp_path):
    folder = tmp_path / "pkg" / "dist"
    folder.mkdir(parents=True)
    for i in range(5):
        (folder / f"c{i}.js").write_text(f"// chunk {i}\n" + ("needle\n" if i % 2 else ""))
    return folder


@pytest.fixture
def reads(monkeypatch):
    seen = []
    real = s._read

    def counting(path):
        seen.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(s, "_read", counting)
    return seen


def test_remembered_reads_each_file_once_even_through_hard_links(dist, reads, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dist, copy, copy_function=os.link)
    with s.remembered():
        first = s.scan(dist, [b"needle"], workers=1)
        assert len(reads) == 5
        again = s.scan(copy, [b"needle"], workers=1)
        assert sorted(map(os.path.basename, again)) == sorted(map(os.path.basename, first))
        assert first and all(path.startswith(str(copy)) for path in again)
        assert len(reads) == 5  # the copy's files are the release's: nothing read again
        (copy / "c0.js").unlink()
        (copy / "c0.js").write_text("needle, replaced\n")  # a new file: read, and found
        assert str(copy / "c0.js") in s.scan(copy, [b"needle"], workers=1)
        assert reads[5:] == ["c0.js"]
        s.scan(dist, [b"chunk"], workers=1)  # other needles: every file read for them
        assert len(reads) == 11
    s.scan(dist, [b"needle"], workers=1)  # outside the block nothing is remembered
    assert len(reads) == 16


def test_optional_definitions_come_from_the_same_pass(dist):
    (dist / "c1.js").write_text("//#region src/a.ts\nfunction wanted() {}\n")
    (dist / "c2.js").write_text("//#region src/b.ts\nfunction maybe() {}\n")
    found = locate_definitions(dist, ["wanted"], optional=["maybe", "absent"])
    assert found == {"wanted": dist / "c1.js", "maybe": dist / "c2.js"}
    with pytest.raises(ShapeError, match="needs absent defined once"):
        locate_definitions(dist, ["absent"], optional=["wanted"])
