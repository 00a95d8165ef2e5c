"""What `pip install .` and the sdist ship: every subpackage of patcher/ is listed in
pyproject.toml, so a non-editable install has all the code the editable checkout runs; the
wheel and sdist build and pass `twine check`, and the sdist carries its whole test suite."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import tomllib
from conftest import REPO


def test_every_subpackage_ships():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "patcher").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    # schemas/ ships as patcher.schemas (package-dir); the specs' shared JavaScript is data.
    assert listed - found <= {"patcher.schemas", "patcher.repair.specs.shared"}


def test_the_wheel_and_sdist_build_pass_twine_check_and_the_sdist_s_tests_collect(tmp_path):
    """`python -m build` makes both, `twine check` passes them, and the unpacked sdist holds
    the whole suite: pytest collects from it every test the checkout has."""
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "is absent from the `packages` configuration" not in built.stdout + built.stderr
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with tarfile.open(sdists[0]) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    for needed in ("tests/conftest.py", "tests/data", "fixtures/bundles", "LICENSE"):
        assert (unpacked / needed).exists(), needed

    def collected(where: Path) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
            cwd=where, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return sorted(line for line in done.stdout.splitlines() if "::" in line)

    assert collected(unpacked) == collected(REPO)
