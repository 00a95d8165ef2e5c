"""`store validate` and `store migrate` from the command line: exit codes, messages, files."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import REPO, assert_fails_cleanly

from patcher.cli import main

STORES = REPO / "fixtures" / "stores"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def snapshot(directory):
    return {str(p): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


@pytest.fixture
def store_dir(tmp_path):
    def make(name: str, malformed: str | None = None):
        target = tmp_path / "state"
        if malformed:
            (target / "cron").mkdir(parents=True)
            shutil.copy(STORES / "malformed" / malformed, target / "cron" / "jobs.json")
        else:
            shutil.copytree(STORES / name, target)
        return target

    return make


def test_validate_valid_store(store_dir):
    result = run("store", "validate", "--state-dir", str(store_dir("split")))
    assert result.exit_code == 0, result.output
    assert "jobs.json          valid (json)" in result.output
    assert "jobs-state.json    valid (json)" in result.output


def test_validate_json(store_dir):
    result = run("store", "validate", "--state-dir", str(store_dir("inline")), "--json")
    payload = json.loads(result.output)
    assert payload["schema"] == "openclaw-patcher/store-validate/1"
    assert payload["kind"] == "json"
    assert payload["valid"] is True
    assert payload["files"][0]["problems"] == []


def test_validate_invalid_lists_every_problem_and_exits_2(store_dir):
    state = store_dir("", malformed="bad-job.json")
    before = snapshot(state)
    result = run("store", "validate", "--state-dir", str(state), "--json")
    assert result.exit_code == 2
    problems = json.loads(result.output)["files"][0]["problems"]
    assert {
        "pointer": "/jobs/0/schedule/kind",
        "message": "'hourly' is not one of ['at', 'every', 'cron']",
    } in problems
    assert snapshot(state) == before


def test_validate_unknown_version_exits_3(store_dir):
    result = run("store", "validate", "--state-dir", str(store_dir("", malformed="version-2.json")))
    assert result.exit_code == 3
    assert "store version 2" in result.output


def test_validate_unreadable_exits_2(store_dir):
    result = run("store", "validate", "--state-dir", str(store_dir("", malformed="truncated.json")))
    assert result.exit_code == 2
    assert "neither JSON nor JSON5" in result.output


def test_validate_file(tmp_path):
    result = run("store", "validate", "--file", str(STORES / "split" / "cron" / "jobs-state.json"))
    assert result.exit_code == 0
    result = run("store", "validate", "--file", str(tmp_path / "missing.json"))
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "is not a file" in result.output


def test_validate_flags_exclude_each_other(tmp_path):
    result = run("store", "validate", "--state-dir", str(tmp_path), "--file", str(tmp_path))
    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_validate_resolves_the_state_dir_from_the_environment(store_dir, monkeypatch):
    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(store_dir("inline")))
    result = run("store", "validate")
    assert result.exit_code == 0
    assert "(default; json)" in result.output


def test_migrate_then_again(store_dir):
    state = store_dir("inline")
    first = run("store", "migrate", "--state-dir", str(state))
    assert first.exit_code == 0
    assert "migrated: added activeJobIds (job-every, job-at)" in first.output
    assert "backup of the original:" in first.output
    before = snapshot(state)
    second = run("store", "migrate", "--state-dir", str(state))
    assert second.exit_code == 0
    assert second.output.startswith("already migrated:")
    assert snapshot(state) == before


def test_migrate_dry_run_and_json5_note(store_dir):
    state = store_dir("json5")
    before = snapshot(state)
    result = run("store", "migrate", "--state-dir", str(state), "--dry-run")
    assert result.exit_code == 0
    assert "would add activeJobIds (job-hand)" in result.output
    assert "was JSON5 and will be rewritten as JSON" in result.output
    assert snapshot(state) == before
    result = run("store", "migrate", "--state-dir", str(state), "--json")
    payload = json.loads(result.output)
    assert payload["outcome"] == "migrated" and payload["rewritten_from_json5"] is True


@pytest.mark.parametrize(
    ("malformed", "code"), [("bad-job.json", 2), ("truncated.json", 2), ("version-2.json", 3)]
)
def test_migrate_refuses_invalid_store_byte_identical(store_dir, malformed, code):
    state = store_dir("", malformed=malformed)
    before = snapshot(state)
    result = run("store", "migrate", "--state-dir", str(state))
    assert result.exit_code == code
    message = result.output.strip()
    assert message.startswith("error: ") and len(message.splitlines()) == 1
    assert str(state / "cron" / "jobs.json") in message
    assert snapshot(state) == before


def test_commands_are_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for command in ("detect", "fetch", "store validate", "store migrate"):
        assert f"openclaw-patcher {command}" in readme or f"`{command}" in readme, command


def test_a_symlinked_store_file_is_left_alone_and_a_symlinked_folder_written_through(
    store_dir, tmp_path
):
    """OpenClaw's save renames a temporary file over jobs.json, which would replace a link
    by a file: migrate refuses the link; through a symlinked folder it writes, as OpenClaw."""
    state = store_dir("inline")
    real = state / "cron" / "jobs.json"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(real.read_bytes())
    real.unlink()
    real.symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    result = CliRunner().invoke(main, ["store", "migrate", "--state-dir", str(state)])
    assert result.exit_code == 3 and "is a symlink (to " in result.output, result.output
    assert real.is_symlink() and elsewhere.read_bytes() == before
    real.unlink()
    real.write_bytes(before)
    linked = tmp_path / "linked-state"
    linked.symlink_to(state, target_is_directory=True)
    result = CliRunner().invoke(main, ["store", "migrate", "--state-dir", str(linked)])
    assert result.exit_code == 0 and "is reached through a symlink" in result.output
    assert "activeJobIds" in real.read_text() and not (linked / "cron" / "jobs.json").is_symlink()


FAILURES = [
    (["store", "validate", "--state-dir", "{state}", "--file", "x"], 2, "exclude each other"),
    (["store", "migrate", "--state-dir", "{nothing}/x/y"], 2, ""),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_store_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)
