"""Every command's contract at the command line: on a failure, its documented exit code,
one sentence naming what to fix, and no file changed; on success, its exit code and its
versioned JSON envelope. (Each command's behaviour is tested in depth beside its module.)"""

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


def one_sentence(result) -> str:
    text = result.stderr.strip()
    assert text.startswith("error: ") and len(text.splitlines()) == 1, result.output
    assert "Traceback" not in result.output and "unexpected error" not in text
    return text


# (command line, exit code, words the sentence must hold); {root}, {state}, {nothing} filled in
FAILURES = [
    (["detect", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
    (["status", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
    (["apply", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
    (["rollback", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
    (["verify"], 2, "pass exactly one of --root DIR and --release VERSION"),
    (["verify", "--root", str(BUNDLES / "unknown-two-sweepers")], 3, "unknown code shape"),
    (["fetch", "../../etc"], 2, "is not an OpenClaw version number"),
    (["store", "validate", "--state-dir", "{state}", "--file", "x"], 2, "exclude each other"),
    (["matrix", "--expect", "[]"], 2, "--expect goes with --merge"),
    (["matrix", "--merge", "{nothing}"], 2, "holds no `matrix --format json` report"),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES, ids=lambda v: str(v)[:40])
def test_a_failing_command_is_one_sentence_its_code_and_no_file_changed(env, args, code, words):
    root, state, cache = env
    nothing = root.parent / "nothing"
    nothing.mkdir()
    before = tree(root, state)
    filled = [a.format(root=root, state=state, nothing=nothing) for a in args]
    result = run(cache, *filled)
    assert result.exit_code == code, result.output
    assert words in one_sentence(result)
    assert tree(root, state) == before


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
