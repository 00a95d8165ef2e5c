"""`verify --release` on real releases: the negative control shows the bug where it exists.

CI runs 2026.4.14 (the upstream report's release), 4.22, 5.7, 6.1 and 7.1 (SQLite era),
the pre-releases 5.30-beta.1, 5.31-beta.2, 7.2-beta.4 and 8.1-beta.3 (shapes no stable
release has) and
2026.9.6 (fixed upstream), and the upgrade of a patched 2026.7.35 to 2026.8.1.
`pytest -m release --verify-all tests/test_release_verify.py` runs the whole acceptance set,
each release five times: every run must agree.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from patcher.cache.layout import deps_dir, kept_copy_dir
from patcher.cli import main

pytestmark = pytest.mark.release


def outside_writes() -> dict[str, int]:
    """What a simulation could leave outside its scratch: the release's hard-coded log
    folder /tmp/openclaw and its lock folders in the system temp dir (name -> mtime)."""
    seen = {}
    for pattern in ("openclaw/*", "openclaw-*/**"):
        for path in Path(tempfile.gettempdir()).glob(pattern):
            if not path.name.startswith("openclaw-patcher"):
                with contextlib.suppress(OSError):
                    seen[str(path)] = path.stat().st_mtime_ns
    return seen


def test_verify_release(verify_case, release_cache):
    version, affected, _ = verify_case
    before = outside_writes()
    result = CliRunner().invoke(
        main,
        ["--cache-dir", str(release_cache), "verify", "--release", version, "--json",
         "--progress"],
    )  # fmt: skip
    # Every write of the simulation stayed inside its scratch folder.
    assert outside_writes() == before
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)  # the stages went to stderr, as asked
    stages = [line.split("] ", 1)[1].split(":")[0] for line in result.stderr.splitlines()]
    expected = ["pristine side", "patched side", "rollback check"] if affected else []
    assert [s for s in stages if s in expected] == expected and stages[-1] == "done", stages
    assert report["version"] == version
    # Node kept what it compiled of the release beside its dependencies, for the next run.
    compiled = deps_dir(release_cache, version) / ".compile-cache"
    assert any(p.is_file() for p in compiled.rglob("*")), compiled
    # The kept copy's processes use it too: the dependencies they load are compiled once.
    assert not (kept_copy_dir(release_cache, version) / "compile-cache").exists()
    pristine = report["pristine"]
    assert pristine["bug_reproduced"] is affected, json.dumps(pristine, indent=1)
    failures = [f for s in pristine["scenarios"].values() for f in s["failures"]]
    if affected:
        # The failure is named: a record lost / "backing session missing", or left running.
        assert any("backing session missing" in f or "still running" in f for f in failures)
        patched = report["patched"]
        assert patched["ok"], json.dumps(patched, indent=1)
        assert all(s["passed"] for s in patched["scenarios"].values())
        assert report["rollback_identical"] is True  # the repaired copy rolled back
        assert result.exit_code == 0
    else:
        assert report["patched"] is None and report["rollback_identical"] is None
        assert result.exit_code == 0
        assert not any("lost" in f for f in failures)
    # Every scenario reports what it observed.
    assert set(pristine["scenarios"]) == {
        "in_flight_recurring",
        "one_shot_interrupted",
        "startup_race",
        "long_live_runs",
        "sweep_from_another_process",
        "no_zombies",
        "store_compatibility",
    }
    assert all("records" in s for s in pristine["scenarios"].values())


def test_a_patched_install_upgrades_to_2026_8_1(release_cache):
    """Patch 2026.7.35, run it (killed mid-run, the persisted activeJobIds row non-empty),
    migrate the state database as `openclaw doctor --fix` does, and start 2026.8.1's own
    code on the same state dir: it starts and sweeps without error, exactly as it does after
    the pristine 2026.7.35 (the control)."""
    from patcher.verification.verify import verify_upgrade

    patched = verify_upgrade("2026.7.35", "2026.8.1", release_cache)
    control = verify_upgrade("2026.7.35", "2026.8.1", release_cache, patched=False)
    for side in (patched, control):
        # start() raised nothing, the migration warned of nothing, every sweep ran.
        compat = side.scenarios["store_compatibility"]
        assert compat.passed, compat.failures

    def verdicts(side):
        return {name: sorted({k for k, _ in s.failures}) for name, s in side.scenarios.items()}

    # What 2026.8.1 does with the runs that died under 7.35 does not depend on the patch.
    assert verdicts(patched) == verdicts(control)
