"""Every command's JSON envelope names its versioned schema, with the command's exit code.
(Each command's failures are in tests/test_cli_<command>.py.)"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BUNDLES, REPO

from patcher.cli import main

SHAPE = BUNDLES / "2026.4.14-inline-json"


def tree(*roots: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "install"
    shutil.copytree(SHAPE, root)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root, state, tmp_path / "cache"


def run(cache: Path, *args: str):
    return CliRunner().invoke(main, ["--cache-dir", str(cache), *args])


def test_every_json_envelope_names_its_schema(env):
    root, state, cache = env
    envelopes = {
        ("detect", "--root", str(root), "--json"): ("openclaw-patcher/detect/1", 0),
        ("status", "--root", str(root), "--json"): ("openclaw-patcher/status/1", 1),
        ("apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation", "--json"): (
            "openclaw-patcher/apply/1",
            0,
        ),
        ("rollback", "--root", str(root), "--json"): ("openclaw-patcher/rollback/1", 0),
        ("store", "validate", "--state-dir", str(state), "--json"): (
            "openclaw-patcher/store-validate/1",
            0,
        ),
        ("store", "migrate", "--state-dir", str(state), "--dry-run", "--json"): (
            "openclaw-patcher/store-migrate/1",
            0,
        ),
    }
    for args, (schema, code) in envelopes.items():
        result = run(cache, *args)
        assert result.exit_code == code, (args, result.output)
        assert json.loads(result.stdout)["schema"] == schema, args
