"""What `pip install .` ships: every subpackage of patcher/ is listed in pyproject.toml, so a
non-editable install has all the code the editable checkout runs."""

from __future__ import annotations

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
    assert listed - found <= {"patcher.schemas"}  # shipped from schemas/ (package-dir)
