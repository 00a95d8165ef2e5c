"""Shared fixtures and the `release` options: which real releases the release tests fetch."""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
BUNDLES = REPO / "fixtures" / "bundles"
RELEASE_FACTS = Path(__file__).parent / "data" / "releases.json"

# Hypothesis profiles: `ci` (the default, a few hundred examples in all) and `fuzz`
# (`pytest -m fuzz --hypothesis-profile=fuzz`: 10,000 examples per property).
_SLOW_OK = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=150, **_SLOW_OK)
settings.register_profile("fuzz", max_examples=10_000, **_SLOW_OK)
settings.load_profile("ci")

# One release of each family (docs/release-families.md), run by CI on every push.
CI_RELEASES = ("2026.4.2", "2026.4.14", "2026.4.22", "2026.5.7", "2026.7.1", "2026.9.6")


# apply + rollback on real releases: CI runs one of each store shape and family of the repair.
CI_PATCH = ("2026.4.14", "2026.4.22", "2026.5.7", "2026.6.1", "2026.7.1", "2026.5.30-beta.1")

# verify on real releases: CI runs one release of each store shape the repair covers
# (4.14, 4.22, 5.7, and the SQLite era's 6.1 and 7.1), the pre-release shapes no spec's
# range names (5.30-beta.1 and 5.31-beta.2, the SQLite store before 6.1; 8.1-beta.3, a
# fixed build whose all-in-one worker bundle keeps region markers; 7.2-beta.4, whose own
# startup repair misses the record) and a fixed release;
# --verify-all runs the acceptance set of issue 4, each release five times.
CI_VERIFY = (
    ("2026.5.30-beta.1", True),  # the first SQLite build, loaders named loadCronStore*
    ("2026.5.31-beta.2", True),  # the SQLite store before 6.1: a build no spec's range names
    ("2026.8.1-beta.3", False),  # the worker copy with region markers, told apart by imports
    ("2026.7.2-beta.4", True),  # upstream's startup repair keyed by the wrong time
    ("2026.4.14", True),
    ("2026.4.22", True),
    ("2026.5.7", True),
    ("2026.6.1", True),
    ("2026.7.1", True),
    ("2026.9.6", False),
)
ALL_VERIFY = (
    ("2026.4.14", True),
    ("2026.4.22", True),
    ("2026.5.7", True),
    ("2026.6.1", True),
    ("2026.7.1", True),
    ("2026.4.2", False),
    ("2026.8.1", False),
    ("2026.9.6", False),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-releases",
        action="store_true",
        help="run release tests over every stable release in tests/data/releases.json",
    )
    parser.addoption(
        "--patch-all",
        action="store_true",
        help="apply + rollback on every stable release 2026.4.5 - 7.35",
    )
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="write the golden diffs of the patch specs anew (tests/test_spec_golden.py)",
    )
    parser.addoption(
        "--crash-all",
        action="store_true",
        help="the crash sweep with at least 100 random kills per release and command",
    )
    parser.addoption(
        "--hostile-all",
        action="store_true",
        help="the full hostile-input corpus (thousands of stores) instead of the short one",
    )
    parser.addoption(
        "--verify-all",
        action="store_true",
        help="verify the acceptance set of releases, five times each",
    )


def _asks_json(args: list[str]) -> bool:
    """`--json`, or matrix's `--format json` / `--format=json`."""
    pairs = itertools.pairwise(args)
    return "--json" in args or "--format=json" in args or ("--format", "json") in pairs


@pytest.fixture(autouse=True)
def json_envelopes_match_their_schemas(monkeypatch):
    """Every `--json` envelope a test's CLI run prints validates against its schema in
    schemas/ (patcher.files.validation.envelope_problems); output that is not an envelope
    (an error, a JSON list) is left alone."""
    import shlex

    from click.testing import CliRunner

    from patcher.files.validation import ENVELOPE_PREFIX, envelope_problems

    invoke = CliRunner.invoke

    def checked(self, cli, args=None, *rest, **kwargs):
        result = invoke(self, cli, args, *rest, **kwargs)
        given = shlex.split(args) if isinstance(args, str) else [str(a) for a in args or ()]
        if not _asks_json(given):
            return result
        try:
            envelope = json.loads(result.stdout)
        except ValueError:
            return result
        schema = envelope.get("schema") if isinstance(envelope, dict) else None
        if isinstance(schema, str) and schema.startswith(ENVELOPE_PREFIX):
            found = envelope_problems(envelope)
            assert found == [], (
                f"{shlex.join(given)} printed an envelope its schema refuses: {found}"
            )
        return result

    monkeypatch.setattr(CliRunner, "invoke", checked)


def release_versions(config: pytest.Config) -> list[str]:
    if config.getoption("--all-releases"):
        return list(json.loads(RELEASE_FACTS.read_text())["releases"])
    return list(CI_RELEASES)


# The tests that wait minutes on a real gateway's own timers (or kill a command a hundred
# times), longest first. The README's command runs the suite on parallel workers
# (`pytest -n 3 --maxschedchunk 1`: each worker is handed two tests, then one at a time):
# these start first, one per worker with an ordinary test queued behind it, so the workers
# spend those minutes running everything else beside them and none ends the run alone on
# one of them.
LONGEST_FIRST = (
    "tests/test_release_gateway.py::test_the_real_gateway",
    "tests/test_release_tasks_repair.py::test_the_real_gateway",
    "tests/test_release_service_restart.py::",
    "tests/test_release_crash_sweep.py::test_crash_sweep",
)


def _long_rank(item: pytest.Item) -> int | None:
    for rank, prefix in enumerate(LONGEST_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Stable and the same on every worker (xdist requires one collection order).
    long = sorted((i for i in items if _long_rank(i) is not None), key=_long_rank)
    rest = [i for i in items if _long_rank(i) is None]
    rest.sort(key=lambda i: i.get_closest_marker("release") is None)  # real releases next
    paired = [t for pair in zip(long, rest, strict=False) for t in pair]
    items[:] = paired + long[len(rest) :] + rest[len(long) :]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "release_version" in metafunc.fixturenames:
        metafunc.parametrize("release_version", release_versions(metafunc.config))
    if "patch_version" in metafunc.fixturenames:
        if metafunc.config.getoption("--patch-all"):
            facts = json.loads(RELEASE_FACTS.read_text())["releases"]
            families = ("affected-json", "affected-json-recovery", "affected-sqlite")
            versions = [v for v, f in facts.items() if f["family"] in families]
        else:
            versions = list(CI_PATCH)
        metafunc.parametrize("patch_version", versions)
    if "verify_case" in metafunc.fixturenames:
        if metafunc.config.getoption("--verify-all"):
            cases = [(v, bug, n) for v, bug in ALL_VERIFY for n in range(1, 6)]
        else:
            cases = [(v, bug, 1) for v, bug in CI_VERIFY]
        ids = [f"{v}-run{n}" for v, _, n in cases]
        metafunc.parametrize("verify_case", cases, ids=ids)


@pytest.fixture(scope="session")
def release_cache() -> Path:
    """The shared release cache: $OPENCLAW_PATCHER_CACHE, else the user cache directory."""
    from patcher.cache.layout import cache_dir

    return cache_dir(os.environ.get("OPENCLAW_PATCHER_CACHE"))


@pytest.fixture
def bundle():
    return lambda name: BUNDLES / name


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
    # Only the fake npm, and Node after it where there is one (apply runs `node --check`).
    node = shutil.which("node")
    path = [str(bin_dir), *([str(Path(node).parent)] if node else [])]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.setenv("FAKE_NPM_DIR", str(served))
    versions = ["2026.4.14", "2026.4.29-beta.1", "2026.7.1-1", "2026.7.1", "2026.4.2"]
    (served / "versions.json").write_text(json.dumps(versions))
    for v in ("2026.4.14", "2026.7.1"):
        make_tarball(served / f"openclaw-{v}.tgz", release_members(v))
    return served


def npm_calls(served: Path) -> list[str]:
    log = served / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def serve_bundle(served: Path, bundle: Path, version: str | None = None) -> str:
    """Serve a fixture bundle through the fake npm as a release tarball; its version."""
    version = version or json.loads((bundle / "package.json").read_text())["version"]
    members: dict[str, bytes | None] = {}
    for path in sorted(bundle.rglob("*")):
        if path.name == "expected.json":
            continue
        name = "package/" + path.relative_to(bundle).as_posix()
        members[name] = None if path.is_dir() else path.read_bytes()
    make_tarball(served / f"openclaw-{version}.tgz", members)
    listed = json.loads((served / "versions.json").read_text())
    if version not in listed:
        (served / "versions.json").write_text(json.dumps([*listed, version]))
    return version


def file_digests(*roots: Path) -> dict[str, str]:
    """sha256 of every file under `roots`: what "no file changed" compares."""
    import hashlib

    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """An install (the synthetic 2026.4.14 bundle), a state dir, a cache, an empty folder."""
    import shutil

    root = tmp_path / "install"
    shutil.copytree(BUNDLES / "2026.4.14-inline-json", root)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return {"root": root, "state": state, "cache": tmp_path / "cache", "nothing": nothing}


def assert_fails_cleanly(cli_env: dict, args: list[str], code: int, words: str) -> None:
    """The command exits `code` with one sentence holding `words` and changes no file."""
    from click.testing import CliRunner

    from patcher.cli import main

    before = file_digests(cli_env["root"], cli_env["state"])
    filled = [a.format(**cli_env) for a in args]
    result = CliRunner().invoke(main, ["--cache-dir", str(cli_env["cache"]), *filled])
    assert result.exit_code == code, result.output
    text = result.stderr.strip()
    assert text.startswith("error: ") and len(text.splitlines()) == 1, result.output
    assert "Traceback" not in result.output and "unexpected error" not in text
    assert words in text, text
    assert file_digests(cli_env["root"], cli_env["state"]) == before
