"""Release access through the npm CLI: listing, fetching into the cache, integrity, extraction."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from patcher.errors import EnvironmentMissing, IntegrityError, UsageError
from patcher.releases import (
    cache_dir,
    extract,
    fetch_release,
    fetch_tarball,
    list_versions,
    stable_versions,
)

FAKE_NPM = Path(__file__).parent / "fake_npm.py"


def make_tarball(path: Path, members: dict[str, bytes | None], links: dict | None = None) -> Path:
    """A gzip tarball; a member with None content is a directory; links maps name -> target."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def release_members(version: str) -> dict[str, bytes | None]:
    pkg = json.dumps({"name": "openclaw", "version": version}).encode()
    return {"package/package.json": pkg, "package/dist/entry.js": b"export {};\n"}


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_NPM}" "$@"\n')
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_NPM_DIR", str(served))
    versions = ["2026.4.14", "2026.4.29-beta.1", "2026.7.1-1", "2026.7.1", "2026.4.2"]
    (served / "versions.json").write_text(json.dumps(versions))
    for v in ("2026.4.14", "2026.7.1"):
        make_tarball(served / f"openclaw-{v}.tgz", release_members(v))
    return served


def npm_calls(served: Path) -> list[str]:
    log = served / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_list_and_stable_versions(fake_npm):
    versions = list_versions()
    assert "2026.4.29-beta.1" in versions
    assert stable_versions(versions) == ["2026.4.2", "2026.4.14", "2026.7.1", "2026.7.1-1"]


def test_fetch_release_extracts_once_and_reuses(fake_npm, tmp_path):
    cache = tmp_path / "cache"
    root = fetch_release("2026.4.14", cache)
    assert root == cache / "releases" / "2026.4.14" / "package"
    assert json.loads((root / "package.json").read_text())["version"] == "2026.4.14"
    assert (cache / "tarballs" / "openclaw-2026.4.14.tgz").is_file()
    assert (
        (cache / "tarballs" / "openclaw-2026.4.14.tgz.integrity").read_text().startswith("sha512-")
    )
    calls = len(npm_calls(fake_npm))
    assert fetch_release("2026.4.14", cache) == root
    assert len(npm_calls(fake_npm)) == calls  # no npm call for a cached release


def test_integrity_mismatch_is_refused_and_nothing_is_cached(fake_npm, tmp_path):
    (fake_npm / "integrity-2026.7.1").write_text("sha512-" + "A" * 86 + "==")
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="does not match the integrity npm reports"):
        fetch_tarball("2026.7.1", cache)
    assert not (cache / "tarballs" / "openclaw-2026.7.1.tgz").exists()


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
    from patcher.releases import NpmFailed, run_npm

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
