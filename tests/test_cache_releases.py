"""Release access through the npm CLI: listing, fetching into the cache, integrity, extraction."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from conftest import make_tarball, npm_calls

from patcher.cache.layout import cache_dir
from patcher.cache.releases import (
    extract,
    fetch_release,
    fetch_tarball,
    list_versions,
    prefetch_tarballs,
    stable_versions,
)
from patcher.errors import EnvironmentMissing, IntegrityError, UsageError


def test_list_and_stable_versions(fake_npm):
    versions = list_versions()
    assert "2026.4.29-beta.1" in versions
    assert stable_versions(versions) == ["2026.4.2", "2026.4.14", "2026.7.1", "2026.7.1-1"]


def test_fetch_release_extracts_once_and_reuses(fake_npm, tmp_path):
    cache = tmp_path / "cache"
    root = fetch_release("2026.4.14", cache)
    assert root == cache / "releases" / "2026.4.14" / "package"
    assert json.loads((root / "package.json").read_text())["version"] == "2026.4.14"
    # Once extracted and recorded (every file's sha256), the tarball is not kept.
    assert list((cache / "tarballs").glob("openclaw-2026.4.14.tgz*")) == []
    assert "dist/entry.js" in json.loads((root.parent / "files.json").read_text())["files"]
    # npm packs into a cache of its own, gone with the pack: the user's keeps no copy.
    (pack,) = [call.split() for call in npm_calls(fake_npm) if call.startswith("pack ")]
    assert pack[pack.index("--cache") + 1].startswith(str(cache / "tarballs" / ".pack-"))
    assert not any((cache / "tarballs").glob(".pack-*"))
    # npm pack reports the integrity npm checked the download against: no `npm view` first.
    assert [call.split()[0] for call in npm_calls(fake_npm)] == ["pack"]
    calls = len(npm_calls(fake_npm))
    assert fetch_release("2026.4.14", cache) == root
    assert len(npm_calls(fake_npm)) == calls  # no npm call for a cached release


def test_prefetch_packs_the_missing_tarballs_in_one_npm_process(fake_npm, tmp_path):
    cache = tmp_path / "cache"
    fetch_release("2026.4.14", cache)  # extracted already: not fetched again
    assert prefetch_tarballs(["2026.4.14", "2026.7.1"], cache) == ["2026.7.1"]
    assert [call.split()[:2] for call in npm_calls(fake_npm)][-1] == ["pack", "openclaw@2026.7.1"]
    calls = len(npm_calls(fake_npm))
    # The verify that comes next finds it, checked against the integrity npm reported.
    assert fetch_release("2026.7.1", cache).is_dir() and len(npm_calls(fake_npm)) == calls
    assert not any((cache / "tarballs").glob(".pack-*"))

    fresh = tmp_path / "fresh"
    assert prefetch_tarballs(["2026.4.14", "2026.7.1"], fresh) == ["2026.4.14", "2026.7.1"]
    packs = [call.split() for call in npm_calls(fake_npm)[calls:]]
    assert [p[:3] for p in packs] == [["pack", "openclaw@2026.4.14", "openclaw@2026.7.1"]]
    assert prefetch_tarballs(["2026.4.14", "2026.7.1"], fresh) == []  # held: nothing to do


def test_a_prefetch_npm_fails_keeps_nothing_and_the_verify_says_why(fake_npm, tmp_path):
    cache = tmp_path / "cache"
    assert prefetch_tarballs(["2026.7.1", "2026.1.1"], cache) == []
    assert list((cache / "tarballs").glob("openclaw-*")) == []
    (fake_npm / "integrity-2026.7.1").write_text("sha512-" + "A" * 86 + "==")
    assert prefetch_tarballs(["2026.7.1"], cache) == []  # a wrong integrity: not kept
    assert list((cache / "tarballs").glob("openclaw-*")) == []
    with pytest.raises(UsageError, match=r"npm reports no release openclaw@2026\.1\.1"):
        fetch_release("2026.1.1", cache)


def test_integrity_mismatch_is_refused_and_nothing_is_cached(fake_npm, tmp_path):
    (fake_npm / "integrity-2026.7.1").write_text("sha512-" + "A" * 86 + "==")
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="does not match the integrity npm reports"):
        fetch_tarball("2026.7.1", cache)
    assert not (cache / "tarballs" / "openclaw-2026.7.1.tgz").exists()


def test_an_npm_whose_pack_reports_no_integrity_is_asked_with_view(fake_npm, tmp_path):
    (fake_npm / "pack-reports-no-integrity").touch()
    (fake_npm / "integrity-2026.7.1").write_text("sha512-" + "A" * 86 + "==")
    with pytest.raises(IntegrityError, match="does not match the integrity npm reports"):
        fetch_tarball("2026.7.1", tmp_path / "cache")
    assert [call.split()[:2] for call in npm_calls(fake_npm)] == [
        ["pack", "openclaw@2026.7.1"],
        ["view", "openclaw@2026.7.1"],
    ]


def test_corrupted_cached_tarball_is_detected(fake_npm, tmp_path):
    cache = tmp_path / "cache"
    tarball = fetch_tarball("2026.7.1", cache)
    tarball.write_bytes(tarball.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError):
        fetch_tarball("2026.7.1", cache)


def test_unknown_version_and_bad_version_text(fake_npm, tmp_path):
    with pytest.raises(UsageError, match=r"npm reports no release openclaw@2026\.1\.1"):
        fetch_release("2026.1.1", tmp_path / "cache")
    with pytest.raises(UsageError, match="is not an OpenClaw version"):
        fetch_release("../../etc", tmp_path / "cache")


def test_npm_failure_carries_npm_reason(fake_npm):
    from patcher.cache.releases import NpmFailed, run_npm

    with pytest.raises(NpmFailed, match=r"failed: 404 No match") as err:
        run_npm(["view", "openclaw@2026.1.1", "dist.integrity"])
    assert err.value.code == "E404"


def test_missing_npm(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentMissing, match="npm was not found"):
        list_versions()


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        ({"package/../../evil.js": b"x"}, None, "escapes"),
        ({"/etc/evil.js": b"x"}, None, "escapes"),
        ({"package/package.json": b"{}"}, {"package/link": "/etc/passwd"}, "link"),
    ],
)
def test_extract_refuses_escapes_and_links(tmp_path, members, links, message):
    tarball = make_tarball(tmp_path / "bad.tgz", members, links)
    dest = tmp_path / "out" / "v"
    with pytest.raises(IntegrityError, match=message):
        extract(tarball, dest)
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no staging left behind
    assert not (tmp_path / "evil.js").exists()


def test_extract_renames_a_differently_named_top_folder(tmp_path):
    tarball = make_tarball(tmp_path / "t.tgz", {"openclaw/package.json": b"{}"})
    root = extract(tarball, tmp_path / "out" / "v")
    assert (root / "package.json").is_file()


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENCLAW_PATCHER_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("OPENCLAW_PATCHER_CACHE")
    assert cache_dir().name == "openclaw-patcher"


def test_a_tampered_release_in_the_cache_is_extracted_again(fake_npm, tmp_path):
    """The extracted tree is the pristine reference: an edit in place, a new file or a
    removed one is found before it serves, and the tree comes back from the tarball."""
    cache = tmp_path / "cache"
    root = fetch_release("2026.4.14", cache)
    entry = root / "dist" / "entry.js"
    pristine = entry.read_bytes()
    notes: list[str] = []
    assert fetch_release("2026.4.14", cache, notes) == root and notes == []

    with entry.open("r+b") as fh:  # in place: the same inode, shared with the store
        fh.write(b"throw 1;//")
    assert fetch_release("2026.4.14", cache, notes) == root
    assert entry.read_bytes() == pristine
    assert len(notes) == 1 and "dist/entry.js" in notes[0] and "extracted again" in notes[0]

    (root / "dist" / "added.js").write_text("export const evil = 1;\n")
    (root / "package.json").unlink()
    notes.clear()
    fetch_release("2026.4.14", cache, notes)
    assert not (root / "dist" / "added.js").exists() and (root / "package.json").is_file()
    assert "dist/added.js" in notes[0]


def test_an_edit_through_a_shared_inode_does_not_come_back_from_the_store(fake_npm, tmp_path):
    """Releases share identical files (hard links into the store): an edit in place of one
    reaches them all; each is restored, and the store entry it spoiled is dropped."""
    cache = tmp_path / "cache"
    a, b = fetch_release("2026.4.14", cache), fetch_release("2026.7.1", cache)
    shared = a / "dist" / "entry.js"
    assert shared.samefile(b / "dist" / "entry.js")  # stored once
    pristine = shared.read_bytes()
    shared.write_bytes(b"throw 1;\n")  # truncates and writes the shared inode
    for version, root in (("2026.4.14", a), ("2026.7.1", b)):
        notes: list[str] = []
        assert fetch_release(version, cache, notes) == root
        assert (root / "dist" / "entry.js").read_bytes() == pristine, version
        assert notes, version


@pytest.mark.parametrize("record", [None, '{"files": []}', '{"files": {"a": [1]}}', "{"])
def test_a_release_cached_without_a_usable_record_is_extracted_again(fake_npm, tmp_path, record):
    cache = tmp_path / "cache"
    root = fetch_release("2026.4.14", cache)
    if record is None:
        (root.parent / "files.json").unlink()  # as an older openclaw-patcher left it
    else:
        (root.parent / "files.json").write_text(record)
    (root / "dist" / "entry.js").write_text("throw 1;\n")
    fetch_release("2026.4.14", cache)
    assert (root / "dist" / "entry.js").read_text() == "export {};\n"
    assert json.loads((root.parent / "files.json").read_text())["files"]


def test_the_harness_links_in_a_release_are_not_changes(fake_npm, tmp_path):
    cache = tmp_path / "cache"
    root = fetch_release("2026.4.14", cache)
    deps = tmp_path / "deps" / "node_modules"
    deps.mkdir(parents=True)
    (root / "node_modules").symlink_to(deps, target_is_directory=True)
    calls = len(npm_calls(fake_npm))
    notes: list[str] = []
    fetch_release("2026.4.14", cache, notes)
    assert notes == [] and (root / "node_modules").is_symlink()
    assert len(npm_calls(fake_npm)) == calls
    (root / "dist" / "link.js").symlink_to(root / "dist" / "entry.js")  # not the tool's
    fetch_release("2026.4.14", cache, notes)
    assert notes and not (root / "dist" / "link.js").exists()


def test_extracting_into_the_cache_stores_each_content_once(tmp_path):
    """A file the store holds already is linked, not written again; a stored copy spoiled
    by an edit in place is not linked into the next release (its name no longer says its
    content), and the fresh file takes its place."""
    cache = tmp_path / "cache"
    shared, spoiled = b"export const shared = 1;\n" * 50, b"export const kept = 2;\n" * 50
    members = {"package/a.js": shared, "package/b.js": spoiled, "package/bin/run": b"#!/bin/sh\n"}
    one_digests: dict[str, str] = {}
    one = extract(make_tarball(tmp_path / "1.tgz", members), tmp_path / "r1", cache, one_digests)
    assert one_digests["a.js"] == hashlib.sha256(shared).hexdigest()
    with (one / "b.js").open("r+b") as fh:  # in place: the stored copy changes with it
        fh.write(b"throw 1;")
    members["package/c.js"] = b"new in two\n"
    two = extract(make_tarball(tmp_path / "2.tgz", members), tmp_path / "r2", cache, {})
    assert (two / "a.js").stat().st_ino == (one / "a.js").stat().st_ino
    assert (two / "b.js").read_bytes() == spoiled
    assert (two / "b.js").stat().st_ino != (one / "b.js").stat().st_ino
    three = extract(make_tarball(tmp_path / "3.tgz", members), tmp_path / "r3", cache, {})
    assert (three / "b.js").stat().st_ino == (two / "b.js").stat().st_ino
    assert (three / "c.js").stat().st_ino == (two / "c.js").stat().st_ino
    assert {p.name: p.read_bytes() for p in three.rglob("*") if p.is_file()} == {
        name.rsplit("/", 1)[-1]: data for name, data in members.items()
    }


def test_a_name_given_twice_in_a_tarball_is_extracted_as_its_last_member(tmp_path):
    """As tar does (and tarfile did): the later member wins, stored or not."""
    tarball = tmp_path / "twice.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for data in (b"first\n", b"second\n"):
            info = tarfile.TarInfo("package/./dist/x.js")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    for cache in (None, tmp_path / "cache"):
        root = extract(tarball, tmp_path / f"out-{cache is None}" / "v", cache, {})
        assert (root / "dist" / "x.js").read_bytes() == b"second\n"
