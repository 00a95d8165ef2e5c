"""The cache on a budget: deduplication by hard links, sizes, least-recently-used eviction."""

from __future__ import annotations

import os
import time

import pytest

from patcher.cache import content as cachestore
from patcher.errors import UsageError


@pytest.mark.parametrize(
    ("text", "size"),
    [("8G", 8 << 30), ("500M", 500 << 20), ("1.5GB", int(1.5 * (1 << 30))), ("1024", 1024)],
)
def test_parse_size(text, size):
    assert cachestore.parse_size(text) == size


def test_a_bad_size_is_one_sentence():
    with pytest.raises(UsageError, match="is not a size such as 8G"):
        cachestore.parse_size("eight gigs")


def release(cache, version, files):
    root = cache / "releases" / version / "package"
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def test_identical_files_are_stored_once(tmp_path):
    a = release(tmp_path, "1", {"dist/x.js": b"x" * 5000, "dist/a.js": b"a" * 3000})
    b = release(tmp_path, "2", {"dist/x.js": b"x" * 5000, "dist/b.js": b"b" * 3000})
    (b / "run.sh").write_bytes(b"x" * 5000)
    (b / "run.sh").chmod(0o755)  # same bytes, other mode: not the same file
    cachestore.dedupe(a, tmp_path)
    cachestore.dedupe(b, tmp_path)
    assert (a / "dist/x.js").stat().st_ino == (b / "dist/x.js").stat().st_ino
    assert (a / "dist/a.js").stat().st_ino != (b / "dist/b.js").stat().st_ino
    assert (b / "run.sh").stat().st_ino != (b / "dist/x.js").stat().st_ino
    assert (b / "dist/x.js").read_bytes() == b"x" * 5000
    inodes = {p: p.stat().st_ino for p in b.rglob("*") if p.is_file()}
    cachestore.dedupe(b, tmp_path)  # idempotent
    assert inodes == {p: p.stat().st_ino for p in b.rglob("*") if p.is_file()}


def test_eviction_takes_the_least_recently_used_and_spares_what_is_kept(tmp_path):
    cache = tmp_path
    for version in ("1", "2", "3"):
        release(cache, version, {"big.bin": os.urandom(200_000)})
        (cache / "deps" / version / "node_modules").mkdir(parents=True)
        (cache / "full" / version / "node_modules").mkdir(parents=True)  # verify --gateway's
        (cache / "copies" / version / "package").mkdir(parents=True)  # verify's kept copy
        (cache / "tarballs").mkdir(exist_ok=True)
        (cache / "tarballs" / f"openclaw-{version}.tgz").write_bytes(b"t")
        cachestore.dedupe(cache / "releases" / version, cache)
    (cache / "installs" / "k").mkdir(parents=True)
    (cache / "installs" / "k" / "manifest.json").write_bytes(b"{}" * 100_000)
    now = time.time()
    for version, age in (("1", 300), ("2", 900), ("3", 600)):
        cachestore.touch_used(cache, version)
        os.utime(cache / "used" / version, (now - age, now - age))
        for path in (cache / "releases" / version, cache / "deps" / version):
            os.utime(path, (now - age, now - age))
    before = cachestore.disk_usage(cache)
    evicted = cachestore.evict(cache, before - 150_000, keep={"2"})
    assert evicted == ["3"]  # 2 is older but kept; 3 is the least recently used left
    assert not (cache / "releases" / "3").exists() and not (cache / "deps" / "3").exists()
    assert not (cache / "tarballs" / "openclaw-3.tgz").exists()
    assert not (cache / "full" / "3").exists() and (cache / "full" / "2").is_dir()
    assert not (cache / "copies" / "3").exists() and (cache / "copies" / "2").is_dir()
    assert (cache / "installs" / "k" / "manifest.json").is_file()  # never evicted
    assert cachestore.disk_usage(cache) <= before - 150_000
    assert cachestore.evict(cache, 10**12) == []  # fits: nothing to do


def test_a_tarball_fetched_ahead_and_never_extracted_can_be_evicted(tmp_path):
    (tmp_path / "tarballs").mkdir()
    tarball = tmp_path / "tarballs" / "openclaw-2026.4.14.tgz"
    tarball.write_bytes(os.urandom(100_000))
    tarball.with_name(tarball.name + ".integrity").write_text("sha512-x\n")
    old = time.time() - 600
    os.utime(tarball, (old, old))
    assert cachestore.evict(tmp_path, 0) == ["2026.4.14"]
    assert list((tmp_path / "tarballs").iterdir()) == []


def test_a_version_in_use_is_never_evicted(tmp_path):
    release(tmp_path, "1", {"big.bin": os.urandom(100_000)})
    cachestore.touch_used(tmp_path, "1")  # just now: another run may be using it
    assert cachestore.evict(tmp_path, 0) == []
    assert (tmp_path / "releases" / "1" / "package" / "big.bin").is_file()


def test_storing_new_content_marks_the_cache_grown(tmp_path):
    """matrix measures the cache (a walk of all of it) only after something was stored."""
    before = time.time()
    assert not cachestore.grown_since(tmp_path, before)
    cachestore.dedupe(release(tmp_path, "1", {"dist/x.js": b"x" * 10}), tmp_path)
    assert cachestore.grown_since(tmp_path, before)
    assert not cachestore.grown_since(tmp_path, time.time() + 1)


def test_the_meter_walks_the_cache_only_when_the_budget_could_be_broken(tmp_path, monkeypatch):
    """matrix --max-cache after every release: the free space the file system reports
    bounds what was written since the last walk, so a cache that surely fits is not walked.
    (The free space is scripted: other tests write and delete on the same file system.)"""
    release(tmp_path, "1", {"big.bin": os.urandom(100_000)})
    free = [10**12]
    monkeypatch.setattr(cachestore, "_free", lambda cache: free[0])
    meter = cachestore.UsageMeter(tmp_path)
    walked = meter.walk()
    free[0] -= 4 << 20  # 4 MiB written somewhere on the file system since
    assert meter.at_most() == walked + (4 << 20)
    walks = []
    real = cachestore.disk_usage
    monkeypatch.setattr(cachestore, "disk_usage", lambda cache: walks.append(cache) or real(cache))
    assert cachestore.evict(tmp_path, walked + (5 << 20), meter=meter) == [] and walks == []
    assert cachestore.evict(tmp_path, walked + (5 << 20)) == [] and len(walks) == 1  # no meter
    cachestore.evict(tmp_path, walked + (3 << 20), grace_s=0, meter=meter)  # could be over
    assert len(walks) == 2 and (tmp_path / "releases" / "1").exists()  # the walk: it fits
    cachestore.evict(tmp_path, 0, grace_s=0, meter=meter)
    assert not (tmp_path / "releases" / "1").exists()
