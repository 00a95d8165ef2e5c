"""The repair on real releases: apply (with its restart simulation), status, rollback, and
every file byte-identical to the tarball afterwards. CI: 2026.4.14, 4.22, 5.7, 6.1, 7.1 and
5.30-beta.1 (a build no spec's range names, repaired by its code, with a note);
`pytest -m release --patch-all tests/test_release_patch.py`: every release 2026.4.5 - 7.35."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile

import pytest
from click.testing import CliRunner

from patcher.cache.releases import fetch_release, fetch_tarball
from patcher.cli import main
from patcher.repair.plan import load_specs
from patcher.simulation.harness import prepare
from patcher.simulation.restart import HARNESS_NAMES, HARNESS_OPTIONAL

pytestmark = pytest.mark.release


def tarball_digests(path) -> dict[str, str]:
    out = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                rel = member.name.split("/", 1)[1]
                out[rel] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
    return out


def tree_digests(root) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (dirpath == str(root) and d == "node_modules")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_apply_then_rollback_is_byte_identical(patch_version, release_cache, tmp_path):
    version = patch_version
    release = fetch_release(version, release_cache)
    # A real install has its node_modules; give the fetched release the packages its cron
    # code imports (linked as node_modules), as `verify --release` does.
    prepare(release, HARNESS_NAMES, release_cache, version, optional=HARNESS_OPTIONAL)
    root = tmp_path / "package"
    shutil.copytree(release, root, symlinks=True)  # node_modules stays a link to the deps
    state = tmp_path / "state"
    (state / "cron").mkdir(parents=True)

    def cli(*args):
        return CliRunner().invoke(main, ["--cache-dir", str(release_cache), *args])

    applied = cli("apply", "--root", str(root), "--state-dir", str(state), "--json")
    assert applied.exit_code == 0, applied.output
    outcome = json.loads(applied.output)["installs"][0]
    assert outcome["outcome"] == "applied"
    assert outcome["simulation"]["ok"], json.dumps(outcome["simulation"], indent=1)
    # The code chose the spec; a version outside its range only adds a note.
    applied_specs = {s["id"] for s in outcome["specs"]}
    in_range = all(spec.in_range(version) for spec in load_specs() if spec.id in applied_specs)
    assert any("is not in the releases spec" in n for n in outcome["notes"]) is not in_range
    assert (
        json.loads(cli("status", "--root", str(root), "--json").output)["installs"][0]["patch"]
        == "applied"
    )

    rolled = cli("rollback", "--root", str(root))
    assert rolled.exit_code == 0, rolled.output
    assert tree_digests(root) == tarball_digests(fetch_tarball(version, release_cache))


def test_verify_root_of_a_repaired_install_runs_the_negative_control(release_cache, tmp_path):
    """verify --root on an install apply repaired: the patched side is the install, and the
    release it came from, rebuilt from apply's backups, must still show the bug."""
    version = "2026.4.14"
    release = fetch_release(version, release_cache)
    prepare(release, HARNESS_NAMES, release_cache, version, optional=HARNESS_OPTIONAL)
    root = tmp_path / "package"
    shutil.copytree(release, root, symlinks=True)

    def cli(*args):
        return CliRunner().invoke(main, ["--cache-dir", str(release_cache), *args])

    state = tmp_path / "state"
    (state / "cron").mkdir(parents=True)
    applied = cli("apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation")
    assert applied.exit_code == 0, applied.output
    before = tree_digests(root)
    verified = cli("verify", "--root", str(root), "--json")
    report = json.loads(verified.output)
    assert report["pristine"]["bug_reproduced"] is True, report["summary"]
    assert report["patched"]["ok"] is True and report["rollback_identical"] is True
    assert verified.exit_code == 0 and "rebuilt from apply's backups" in report["summary"]
    assert tree_digests(root) == before  # the install itself was only read
    # Without apply's record the pristine side cannot be rebuilt: one sentence, exit 3.
    other = CliRunner().invoke(
        main, ["--cache-dir", str(tmp_path / "other-cache"), "verify", "--root", str(root)]
    )
    assert other.exit_code == 3 and "holds no record of it" in other.output
